"""Tk's own file dialog and message boxes (X11) as a Spanish-speaking student meets them.

Part of the desktop's Tk layer (picker.py and result_window.py use it): every text of the dialog and of the
popups it opens in Spanish, a typed name with spaces taken whole, hidden files left out,
and several files chosen from the keyboard. Tk's dialog code is Tcl; what changes here
is done once per interpreter, before the dialog opens.
"""

import sys

# Every message Tk's file dialog (tkfbox.tcl) and its popups (msgbox.tcl) can show, in our words
# («carpeta», not «directorio»). Tk's Spanish catalogue lacks some: its «does not exist» has one
# space where tkfbox.tcl's has two, so that popup stayed in English. tests/test_picker.py reads
# Tk's sources for every string they ask for.
TK_SPANISH = {
    "Open": "Abrir",
    "Save As": "Guardar como",
    "&Directory:": "&Carpeta:",
    "File &name:": "&Nombre de archivo:",
    "File &names:": "&Nombres de archivo:",
    "Files of &type:": "&Tipo de archivo:",
    "&Selection:": "&Selección:",
    "Show &Hidden Files and Directories": "Mostrar archivos y carpetas &ocultos",
    "Show &Hidden Directories": "Mostrar carpetas &ocultas",
    "&Open": "&Abrir",
    "&Save": "&Guardar",
    "&OK": "&Aceptar",
    "OK": "Aceptar",
    "&Cancel": "&Cancelar",
    "&Yes": "&Sí",
    "&No": "&No",
    "&Abort": "&Abortar",
    "&Retry": "&Reintentar",
    "&Ignore": "&Ignorar",
    'File "%1$s"  does not exist.': "El archivo «%1$s» no existe.",
    'File "%1$s" does not exist.': "El archivo «%1$s» no existe.",
    'Directory "%1$s" does not exist.': "La carpeta «%1$s» no existe.",
    'Cannot change to the directory "%1$s".\nPermission denied.':
        "No se puede abrir la carpeta «%1$s»:\nno hay permiso.",
    'Invalid file name "%1$s".': "El nombre de archivo «%1$s» no es válido.",
    'File "%1$s" already exists.\nDo you want to overwrite it?': "El archivo «%1$s» ya existe.\n¿Quiere reemplazarlo?",
}

# A name typed in the multiple-file dialog is a Tcl list to Tk: «/home/ana/Mis fotos/gato.jpg»
# became two names, each with its own popup, and an unbalanced quote a Tcl error. Here the text
# is one name when it names something as typed, or when it is no list of existing names (nor
# quoted by the user, as in "a.jpg" "b.jpg"); the popup then names what was typed.
_TYPED_NAMES = r"""
namespace eval ::tk::dialog::file {
    proc Exists {folder name extension} {
        expr {[lindex [ResolveFile $folder $name $extension] 0] in {OK PATTERN}}
    }
    proc TypedNames {folder text extension} {
        set whole [string trim $text]
        if {$whole eq "" || [Exists $folder $whole $extension] || [catch {llength $text}]} {
            return [list $whole]
        }
        if {[string first "\"" $text] >= 0 || [string first "\{" $text] >= 0} {
            return $text
        }
        foreach name $text {
            if {![Exists $folder $name $extension]} {return [list $whole]}
        }
        return $text
    }
    if {[info procs ActivateEntAsTk] eq ""} {
        rename ActivateEnt ActivateEntAsTk
        proc ActivateEnt {w} {
            upvar ::tk::dialog::file::[winfo name $w] data
            if {!$data(-multiple)} {
                return [ActivateEntAsTk $w]
            }
            set typed [$data(ent) get]
            set names [TypedNames $data(selectPath) $typed $data(-defaultextension)]
            $data(ent) delete 0 end
            $data(ent) insert 0 $names
            ActivateEntAsTk $w
            # A name that does not exist stays as typed, not in Tcl's braces.
            if {[winfo exists $data(ent)] && [$data(ent) get] eq $names} {
                $data(ent) delete 0 end
                $data(ent) insert 0 $typed
                $data(ent) selection range 0 end
                $data(ent) icursor end
            }
        }
    }
}
"""

# The list's type-ahead compares one letter fewer than typed (Tk 8.6's IconList Goto: -length
# $len0): «g» went to the first file whatever its name, «co» to «cafe.png». The same method,
# comparing every letter typed.
_TYPE_AHEAD = r"""
catch {auto_load ::tk::IconList}
if {[info object isa class ::tk::IconList]} {
    # A modifier alone (the Shift of Shift+Down) types no letter, yet Tk searched again with the
    # letters typed just before and jumped back to their file: «ca», ↓, Shift+↓ chose cafe and cohete.
    oo::define ::tk::IconList method KeyPress key {
        if {$key eq ""} {return}
        append accel $key
        my Goto $accel
        after cancel $accelCB
        set accelCB [after 500 [namespace code {my Reset}]]
    }
    oo::define ::tk::IconList method Goto text {
        if {![info exists list] || $text eq "" || $numItems == 0} {return}
        set start [expr {[llength [$w selection get]] ? [$w index anchor] : 0}]
        set length [string length $text]
        set i $start
        while 1 {
            if {[string equal -nocase -length $length $textList($i) $text]} {
                $w selection clear 0 end
                $w selection set $i
                $w selection anchor $i
                $w see $i
                return
            }
            incr i
            if {$i == $numItems} {set i 0}
            if {$i == $start} {return}
        }
    }
}
"""

# Several files from the keyboard, in the dialog's list: Shift+Down and Shift+Up add the next
# or the previous file to those chosen, Ctrl+A chooses them all (Tk has only clicks for this).
# Bound when the dialog is made: Tk keeps it, hidden, for the next time.
_LIST_KEYS = r"""
namespace eval ::tk::dialog::file {
    proc ExtendChoice {icons step} {
        if {![$icons cget -multiple]} {return}
        set chosen [lsort -integer [$icons selection get]]
        if {![llength $chosen]} {
            set next 0
        } elseif {$step > 0} {
            set next [expr {[lindex $chosen end] + 1}]
        } else {
            set next [expr {[lindex $chosen 0] - 1}]
        }
        if {$next < 0 || $next >= [$icons index end]} {return}
        if {![llength $chosen]} {$icons selection anchor $next}
        $icons selection set $next
        $icons see $next
    }
    proc ChooseAll {icons} {
        if {![$icons cget -multiple] || [$icons index end] == 0} {return}
        $icons selection set 0 [expr {[$icons index end] - 1}]
    }
    if {[info procs CreateAsTk] eq ""} {
        rename Create CreateAsTk
        proc Create {w class} {
            CreateAsTk $w $class
            set icons $w.contents.icons
            # The list's keys are bound to its canvas, inside a frame of its own (cHull in Tk 8.6).
            set canvases {}
            foreach child [winfo children $icons] {
                foreach widget [concat $child [winfo children $child]] {
                    if {[winfo class $widget] eq "Canvas"} {lappend canvases $widget}
                }
            }
            foreach canvas $canvases {
                foreach {key step} {<Shift-Down> 1 <Shift-Up> -1 <Shift-Right> 1 <Shift-Left> -1} {
                    bind $canvas $key "[list ::tk::dialog::file::ExtendChoice $icons $step]; break"
                }
                foreach key {<Control-a> <Control-A>} {
                    bind $canvas $key "[list ::tk::dialog::file::ChooseAll $icons]; break"
                }
            }
        }
    }
}
"""


# Tk's own file dialog (X11): once on screen, raised with the keyboard in its file-name entry. Its
# keys are bound to that entry alone; the dialog's own focus (focus -lastfor) was at times the
# dialog's frame, where every key typed was lost. Checked at each poll: a frame that holds the
# focus hands it to the entry. A widget of the dialog the user already went to (the file list,
# clicked while the model loads) keeps it.
_FILE_DIALOG_KEYS = """{first dialog} {
    if {![winfo exists $dialog] || ![winfo viewable $dialog]} {return 0}
    set entry $dialog.contents.f2.ent
    if {![winfo exists $entry]} {set entry [focus -lastfor $dialog]}
    if {$first} {
        raise $dialog
        if {![string match $dialog.* [focus]]} {focus -force $entry}
    } elseif {[focus -lastfor $dialog] eq $dialog} {
        focus $entry
    }
    return 1
}"""


def keep_dialog_keys(root, timers, poll_ms=100, dialog=".__tk_filedialog"):
    """Raise the file dialog once it is on screen, its entry keeping the keyboard; polled until it ends.

    dialog: Tk's window of the dialog (.__tk_choosedir for the folder dialog)."""
    state = {"first": True}

    def tick():
        dialog = next((w for w in root.winfo_children() if w.winfo_class() == "TkFDialog"), None)
        if dialog is not None:  # a system's own dialog (Windows, macOS)
            if state["first"]:
                to_front(dialog)
                state["first"] = False
            return
        if sys.platform in ("win32", "darwin"):
            return
        try:
            if int(root.tk.call("apply", _FILE_DIALOG_KEYS, int(state["first"]), dialog)):
                state["first"] = False
        except Exception:  # noqa: BLE001 - cosmetic: the dialog works all the same
            pass

    timers.every(poll_ms, tick, "dialog-keys")


def to_front(window):
    """Raise a new window above the others and give it the keyboard."""
    import tkinter

    try:
        window.lift()
        window.attributes("-topmost", True)
        window.focus_force()
        window.attributes("-topmost", False)  # on top now, not for ever
        window.focus_lastfor().focus_force()
    except tkinter.TclError:
        pass  # the window went meanwhile


def spanish(root):
    """Tk's dialogs in Spanish, whatever the system's locale."""
    import tkinter

    try:
        root.tk.eval("package require msgcat; ::msgcat::mclocale es; "
                     "namespace eval ::tk {::msgcat::mcload [file join $::tk_library msgs]}")
        for english, spanish_text in TK_SPANISH.items():
            root.tk.call("namespace", "eval", "::tk", ["::msgcat::mcset", "es", english, spanish_text])
    except tkinter.TclError:
        pass  # a Tk without its message catalogue: its dialogs stay in English


# Tk's folder dialog took a typed folder's path and Intro as «go into it», a second Intro as «this one»:
# a student who typed the path and pressed Intro saw the dialog stay. A typed folder that exists is chosen
# at once; anything else goes on as Tk made it.
_TYPED_FOLDER = r"""
namespace eval ::tk::dialog::file::chooseDir {
    if {[info procs OkCmdAsTk] eq ""} {
        rename OkCmd OkCmdAsTk
        proc OkCmd {w} {
            upvar ::tk::dialog::file::[winfo name $w] data
            set text [string trim [$data(ent) get]]
            if {![llength [$data(icons) selection get]] && $text ne ""} {
                set text [file join {*}[file split $text]]
                if {[file isdirectory $text]} {
                    return [Done $w [file normalize [file join $data(selectPath) $text]]]
                }
            }
            OkCmdAsTk $w
        }
    }
}
"""


def prepare_folder_dialog(root):
    """Tk's own folder dialog (Linux): no dot folders listed, a typed folder chosen with one Intro."""
    import tkinter

    try:
        if root.tk.call("tk", "windowingsystem") != "x11":
            return  # the system's own dialog
        root.tk.eval("catch {tk_chooseDirectory -no-such-option}; catch {tk_getOpenFile -no-such-option}; "
                     "set ::tk::dialog::file::showHiddenBtn 1; set ::tk::dialog::file::showHiddenVar 0")
        root.tk.eval(_TYPED_FOLDER)
    except (AttributeError, tkinter.TclError):
        pass  # a stand-in in tests, or another Tk's dialog code: it works as Tk made it


def prepare_file_dialog(root):
    """Tk's own file dialog (Linux): no dot files listed, names with spaces, several files by keyboard."""
    import tkinter

    try:
        if root.tk.call("tk", "windowingsystem") != "x11":
            return  # the system's own dialog
        # Loading the dialog's code first creates the procedures and variables changed here.
        root.tk.eval("catch {tk_getOpenFile -no-such-option}; "
                     "set ::tk::dialog::file::showHiddenBtn 1; set ::tk::dialog::file::showHiddenVar 0")
    except (AttributeError, tkinter.TclError):
        return  # a stand-in in tests, or a Tk without that dialog
    for script in (_TYPED_NAMES, _TYPE_AHEAD, _LIST_KEYS):
        try:
            root.tk.eval(script)
        except tkinter.TclError:
            pass  # another Tk's dialog code: it works as Tk made it
