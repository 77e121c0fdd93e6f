"""Stand-ins for the picker, the window, input() and print() in the desktop loop."""


class FakeUI:
    def __init__(self, picks):
        self.picks = list(picks)
        self.shown = []
        self.maps = []

    def pick(self):
        item = self.picks.pop(0)
        if isinstance(item, BaseException):
            raise item
        return item

    def show(self, image, predictions, path, heatmap=None, seen=None):
        self.shown.append((image, predictions, path))
        self.maps.append(heatmap)


class Script:
    """input() and print() for the loop: canned answers in, every line out."""

    def __init__(self, answers):
        self.answers = list(answers)
        self.lines = []
        self.prompts = []

    def ask(self, prompt):
        self.prompts.append(prompt)
        answer = self.answers.pop(0)
        if isinstance(answer, BaseException):
            raise answer
        return answer

    def say(self, message):
        self.lines.append(message)

    @property
    def text(self):
        return "\n".join(self.lines)
