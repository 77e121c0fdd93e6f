"""Real windows on a virtual screen: Xvfb, xdotool, and a window manager (openbox) or none.

Used by the end-to-end desktop tests, the README screenshots and the picker benchmark.
"""

import os
import shutil
import subprocess
import time

WINDOW_MANAGERS = [None, "openbox"]  # the desktop tests run bare and as users have it


def available(window_manager=None):
    """None when Xvfb, xdotool (and the window manager, if one) are installed, else the reason to skip."""
    tools = ("Xvfb", "xdotool") + ((window_manager,) if window_manager else ())
    missing = [tool for tool in tools if shutil.which(tool) is None]
    if missing:
        return f"falta {' y '.join(missing)} (apt-get install xvfb xdotool openbox)"
    try:
        import Xlib  # noqa: F401
    except ImportError:
        return "falta python-xlib (pip install -r requirements-test.txt)"
    return None


class VirtualScreen:
    """An Xvfb server on a free display number, stopped on exit; with window_manager="openbox",
    title bars, focus and placement as a desktop has them."""

    def __init__(self, width=1280, height=1024, window_manager=None):
        self.size = (width, height)
        self.window_manager = None
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
        if window_manager:
            try:
                self._start_window_manager(window_manager)
            except BaseException:
                self.__exit__()
                raise

    def _start_window_manager(self, name, timeout=30):
        """Start it and wait until it has taken the screen (it names itself on the root window)."""
        from Xlib import display

        self.window_manager = subprocess.Popen([name, "--sm-disable"] if name == "openbox" else [name],
                                               env=self.env(), stdout=subprocess.DEVNULL,
                                               stderr=subprocess.DEVNULL)
        connection = display.Display(self.display)
        try:
            check = connection.intern_atom("_NET_SUPPORTING_WM_CHECK")
            deadline = time.monotonic() + timeout
            while connection.screen().root.get_full_property(check, 0) is None:
                if self.window_manager.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"{name} did not take the screen")
                time.sleep(0.02)
        finally:
            connection.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        for process in (self.window_manager, self.server):
            if process is not None and process.poll() is None:
                process.terminate()
                process.wait(10)

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
        self.focus(window)
        # Real key events to the focused window: Tk ignores synthetic ones (xdotool --window).
        self.xdotool("type", "--delay", "2", text)
        self.xdotool("key", "Return")

    def focus(self, window):
        """Give the window the keyboard: through the window manager when there is one, as a click does."""
        if self.window_manager is not None:
            self.xdotool("windowactivate", "--sync", str(window))
        else:
            self.xdotool("windowfocus", "--sync", str(window))

    def key(self, window, *keys):
        """Keys pressed on the keyboard, with the window in front."""
        self.focus(window)
        self.xdotool("key", *keys)

    def focused(self):
        """Id of the window that has the keyboard (a toplevel's client window with a WM)."""
        value = self.xdotool("getwindowfocus", "-f")
        return int(value) if value.isdigit() else None

    def geometry(self, window):
        """(x, y, width, height) of a window's content (inside its frame, if a window manager drew one).

        Asked of the X server: xdotool counts a reparented window's title bar twice.
        """
        from Xlib import display

        connection = display.Display(self.display)
        try:
            target = connection.create_resource_object("window", window)
            size = target.get_geometry()
            origin = connection.screen().root.translate_coords(target, 0, 0)
        finally:
            connection.close()
        return origin.x, origin.y, size.width, size.height

    def frame(self, window):
        """(left, right, top, bottom): the window manager's border and title bar around the window."""
        from Xlib import display

        connection = display.Display(self.display)
        try:
            extents = connection.create_resource_object("window", window).get_full_property(
                connection.intern_atom("_NET_FRAME_EXTENTS"), 0)
        finally:
            connection.close()
        return tuple(extents.value) if extents is not None else (0, 0, 0, 0)

    def screenshot(self, window=None, frame=False):
        """The screen, or one window's content; frame=True adds its title bar and borders."""
        from PIL import ImageGrab

        image = ImageGrab.grab(xdisplay=self.display)
        if window is None:
            return image
        x, y, width, height = self.geometry(window)
        left, right, top, bottom = self.frame(window) if frame else (0, 0, 0, 0)
        return image.crop((max(0, x - left), max(0, y - top), x + width + right, y + height + bottom))

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
