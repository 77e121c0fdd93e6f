"""Stand-ins for the picker, the window, message boxes, input() and print() in the desktop loop."""


class FakeUI:
    """picks: one list of paths per round (or an exception); answers: what each window answers."""

    unavailable = RuntimeError  # what this UI raises when it cannot open (stands for DisplayUnavailable)

    def __init__(self, picks, answers=None):
        self.picks = [item if isinstance(item, (list, BaseException)) else ([] if item is None else [item])
                      for item in picks]
        self.answers = list(answers or [])
        self.shown = []  # every Result shown, in order
        self.windows = []  # the Results of each window
        self.errors = []  # (title, message) of each message box

    def pick(self, give_up=None):
        item = self.picks.pop(0)
        if isinstance(item, BaseException):
            raise item
        return item

    def show(self, results, stream=None):
        """The window waits for the rest of a pick and shows every page."""
        results = list(results)
        if stream is not None:
            stream.finish()
            results += stream.take()
        self.windows.append(results)
        self.shown.extend(results)
        return self.answers.pop(0) if self.answers else None

    def error(self, title, message):
        self.errors.append((title, message))


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
