"""Real windows on a virtual screen: Xvfb, xdotool, and the window manager's close message.

Used by the end-to-end desktop test, the README screenshots and the picker benchmark.
"""

import os
import re
import shutil
import subprocess
import time


def available():
    """None when Xvfb and xdotool are installed, else the reason to skip."""
    missing = [tool for tool in ("Xvfb", "xdotool") if shutil.which(tool) is None]
    if missing:
        return f"falta {' y '.join(missing)} (apt-get install xvfb xdotool)"
    try:
        import Xlib  # noqa: F401
    except ImportError:
        return "falta python-xlib (pip install -r requirements-test.txt)"
    return None


class VirtualScreen:
    """An Xvfb server on a free display number, stopped on exit."""

    def __init__(self, width=1280, height=1024):
        self.size = (width, height)
        read_end, write_end = os.pipe()
        self.server = subprocess.Popen(
            ["Xvfb", "-displayfd", str(write_end), "-screen", "0", f"{width}x{height}x24", "-nolisten", "tcp"],
            pass_fds=[write_end], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        os.close(write_end)
        with os.fdopen(read_end) as ready:
            number = ready.readline().strip()  # written once the server accepts clients
        if not number:
            self.server.kill()
            raise RuntimeError("Xvfb did not start")
        self.display = f":{number}"

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.server.terminate()
        self.server.wait(10)

    def env(self, base=None):
        env = dict(os.environ if base is None else base)
        env["DISPLAY"] = self.display
        env.pop("WAYLAND_DISPLAY", None)
        return env

    def xdotool(self, *args):
        done = subprocess.run(["xdotool", *args], env=self.env(), capture_output=True, text=True, timeout=30)
        return done.stdout.strip()

    def find(self, name, timeout=60, process=None):
        """Id of the first visible window whose title matches name (a regular expression)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = self.xdotool("search", "--onlyvisible", "--name", name)
            if found:
                return int(found.split()[0])
            if process is not None and process.poll() is not None:
                raise RuntimeError(f"the program ended (status {process.returncode}) before a window {name!r}")
            time.sleep(0.02)
        raise TimeoutError(f"no window {name!r} within {timeout} s")

    def settled(self, window, timeout=30, pause=0.25):
        """Screenshot of the window once two in a row, pause seconds apart, are equal."""
        deadline = time.monotonic() + timeout
        previous = self.screenshot(window)
        while time.monotonic() < deadline:
            time.sleep(pause)
            shot = self.screenshot(window)
            if shot.tobytes() == previous.tobytes():
                return shot
            previous = shot
        return previous

    def type_and_enter(self, window, text):
        # A dialog still drawing itself has not yet given its entry the focus: keys would be lost.
        self.settled(window)
        # Real key events to the focused window: Tk ignores synthetic ones (xdotool --window).
        self.xdotool("windowfocus", "--sync", str(window))
        self.xdotool("type", "--delay", "2", text)
        self.xdotool("key", "Return")

    def geometry(self, window):
        """(x, y, width, height) of a window."""
        shell = self.xdotool("getwindowgeometry", "--shell", str(window))
        values = dict(re.findall(r"(\w+)=(\d+)", shell))
        return tuple(int(values[k]) for k in ("X", "Y", "WIDTH", "HEIGHT"))

    def screenshot(self, window=None):
        from PIL import ImageGrab

        image = ImageGrab.grab(xdisplay=self.display)
        if window is None:
            return image
        x, y, width, height = self.geometry(window)
        return image.crop((x, y, x + width, y + height))

    def close(self, window):
        """What the window's x button does: send WM_DELETE_WINDOW."""
        from Xlib import X, display
        from Xlib.protocol import event

        connection = display.Display(self.display)
        try:
            target = connection.create_resource_object("window", window)
            protocols = connection.intern_atom("WM_PROTOCOLS")
            delete = connection.intern_atom("WM_DELETE_WINDOW")
            message = event.ClientMessage(window=target, client_type=protocols,
                                          data=(32, [delete, X.CurrentTime, 0, 0, 0]))
            target.send_event(message, event_mask=X.NoEventMask)
            connection.sync()  # a round trip: the server has handled the message before we hang up
        finally:
            connection.close()

    def wait_gone(self, window, timeout=30):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if str(window) not in self.xdotool("search", "--onlyvisible", "--name", "").split():
                return
            time.sleep(0.05)
        raise TimeoutError(f"window {window} still open")
