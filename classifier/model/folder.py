"""Loading a model folder: config, safetensors weights and image processor, each checked before
transformers reads it and again after, so a broken folder is told in a sentence, never run."""

import os
import re
from contextlib import contextmanager

from classifier.base.errors import ModelLoadError, quoted
from classifier.base.spanish import thousands

from .refusals import broken, unnamed_classes, unreadable
from .settings import NotPlain, read_settings
from .weights import DamagedWeights, check_network_fits, stored_tensors

_GENERIC_LABEL = re.compile(r"LABEL_\d+")


@contextmanager
def weight_progress_bars_hidden():
    """transformers' «Loading weights» bar is English and says nothing a user needs: never shown."""
    from transformers.utils import logging as hf_logging

    was_shown = hf_logging.is_progress_bar_enabled()
    hf_logging.disable_progress_bar()
    try:
        yield
    finally:
        if was_shown:
            hf_logging.enable_progress_bar()


def _names_own_code(settings):
    """True when a settings dict, or processor_config.json's «image_processor» in it, has an auto_map:
    code of the model's own that transformers would offer to run."""
    nested = settings.get("image_processor") if isinstance(settings, dict) else None
    return isinstance(settings, dict) and "auto_map" in settings or isinstance(nested, dict) and "auto_map" in nested


def _is_class_number(key):
    try:
        int(key)
    except (TypeError, ValueError):
        return False
    return True


def load_folder(folder, name):
    """Config, weights (safetensors only) and image processor from a local folder."""
    _check_folder_opens(folder, name)
    settings = _read_settings_files(folder, name)
    raw = settings["config.json"]
    config = _load_config(folder, name, raw)
    _check_weights_before_loading(folder, name, config, raw)
    model = _load_network(folder, name, config)
    return model, _load_processor(folder, name, settings)


def _check_folder_opens(folder, name):
    try:
        os.listdir(folder)
    except PermissionError:
        raise ModelLoadError(f"No hay permiso para abrir la carpeta del modelo {quoted(name)}.") from None
    except OSError:  # a folder gone or unreadable otherwise: the files below say what is missing
        pass


def _read_settings_files(folder, name):
    """{file name: JSON value or None} of every settings file transformers reads, read bounded first:
    processor_config.json (read even beside preprocessor_config.json, and preferred when it holds an
    «image_processor») once took 5 GB. model.safetensors.index.json is read bounded with the weights'
    headers (stored_tensors)."""
    settings = {}
    for file_name in ("config.json", "preprocessor_config.json", "processor_config.json"):
        try:
            settings[file_name] = read_settings(os.path.join(folder, file_name))
        except (FileNotFoundError, NotADirectoryError):
            if file_name == "config.json":
                raise ModelLoadError(
                    f"La carpeta {quoted(name)} no contiene un modelo de Hugging Face (falta config.json)."
                ) from None
            settings[file_name] = None  # AutoImageProcessor says it is missing
        except PermissionError:
            raise unreadable(name, file_name) from None
        except NotPlain as exc:
            raise broken(name, f"su {file_name} {exc}") from None
        except OSError:  # unreadable: transformers' own reading reports it
            settings[file_name] = None
        # Before transformers reads either file: given an auto_map it may ask on stdout whether to run its code.
        if _names_own_code(settings[file_name]):
            raise ModelLoadError(
                f"El modelo {quoted(name)} trae su propio código Python (auto_map en {file_name}); por seguridad "
                "este programa no carga esos modelos: nunca ejecuta código que venga con un modelo."
            )
    return settings


def _load_config(folder, name, raw):
    """transformers' config of an image classifier whose classes each have a name; raw: config.json's value."""
    from transformers import AutoConfig
    from transformers.models.auto.modeling_auto import MODEL_FOR_IMAGE_CLASSIFICATION_MAPPING_NAMES

    raw_labels = raw.get("id2label") if isinstance(raw, dict) else None
    if raw_labels is not None and not (isinstance(raw_labels, dict) and all(map(_is_class_number, raw_labels))):
        raise unnamed_classes(name, "id2label debe ir de 0 al número de clases menos uno")
    try:
        config = AutoConfig.from_pretrained(folder, trust_remote_code=False)
    except Exception as exc:
        raise ModelLoadError(f"El archivo config.json del modelo {quoted(name)} está dañado o no se reconoce.") from exc
    if config.model_type not in MODEL_FOR_IMAGE_CLASSIFICATION_MAPPING_NAMES:
        raise ModelLoadError(
            f"El modelo {quoted(name)} es de tipo «{config.model_type}» y no es un clasificador de imágenes."
        )
    _check_class_names(name, config)
    return config


def _check_class_names(name, config):
    labels = getattr(config, "id2label", None) or {}
    if set(labels) != set(range(getattr(config, "num_labels", len(labels)))):
        raise unnamed_classes(name, "id2label debe ir de 0 al número de clases menos uno")
    # A name is text, or a whole number (a digit model's «7», shown as written); null, a list, an object,
    # true or 2.5 would be shown as Python writes them («None», «[1, 2]», «True»).
    unnamed = [i for i in sorted(labels) if not (isinstance(labels[i], str) and labels[i].strip()
                                                 or type(labels[i]) is int)]
    if unnamed:
        label = labels[unnamed[0]]
        what = "está vacío" if isinstance(label, str) else "no lo es"
        raise unnamed_classes(name, f"cada nombre de id2label debe ser un texto, y el de la clase {unnamed[0]} "
                                   f"{what}")
    if not labels or all(_GENERIC_LABEL.fullmatch(str(label)) for label in labels.values()):
        raise ModelLoadError(
            f"El modelo {quoted(name)} no trae los nombres de sus clases (id2label en config.json): "
            "sus predicciones no se podrían leer."
        )


def _damaged(name):
    return ModelLoadError(
        f"Los pesos del modelo {quoted(name)} están dañados, incompletos o no corresponden a su config.json."
    )


def _check_weights_before_loading(folder, name, config, raw):
    """Safetensors weights only, whose headers describe their files and fill the network config describes."""
    files = os.listdir(folder)
    if not any(f.endswith(".safetensors") for f in files):
        pickled = any(f.endswith((".bin", ".pt", ".pth", ".ckpt")) for f in files)
        raise ModelLoadError(
            f"El modelo {quoted(name)} solo trae pesos en formato pickle; por seguridad solo se cargan pesos "
            ".safetensors."
            if pickled else f"La carpeta del modelo {quoted(name)} no contiene los pesos (model.safetensors)."
        )
    try:
        stored = stored_tensors(folder)
    except PermissionError as exc:
        raise unreadable(name, os.path.basename(exc.filename or "model.safetensors")) from None
    except NotPlain as exc:
        raise broken(name, f"su {exc}") from None
    except DamagedWeights:
        raise _damaged(name) from None
    if stored is not None:
        check_network_fits(config, stored, name, raw)


def _load_network(folder, name, config):
    """The network with its weights, every tensor in its place: none missing, none left over."""
    from transformers import AutoModelForImageClassification

    try:
        with weight_progress_bars_hidden():
            model, info = AutoModelForImageClassification.from_pretrained(
                folder, config=config, use_safetensors=True, trust_remote_code=False, output_loading_info=True
            )
    except Exception as exc:
        raise _damaged(name) from exc
    # "return_dict": false in config.json only makes the network answer in tuples, which its own
    # submodules and transformers' pipeline then fail on; the numbers are the same either way.
    model.config.return_dict = True
    # BatchNorm's step counters are left out by some converters; inference never reads them.
    missing = [key for key in info.get("missing_keys") or () if not key.endswith(".num_batches_tracked")]
    if missing or info.get("mismatched_keys"):
        # transformers would fill the gaps with random numbers: the answers would be noise.
        raise ModelLoadError(
            f"Los pesos del modelo {quoted(name)} no corresponden a su config.json "
            "(faltan tensores o no tienen la forma esperada); sus predicciones serían aleatorias."
        )
    # Tensors the network has no place for are dropped by transformers: a checkpoint with more layers than
    # config.json says would answer as another network. Non-persistent buffers (position ids in older
    # checkpoints) are computed by the network itself; transformers already drops the ones it knows.
    computed = {key for key, _ in model.named_buffers()} - set(model.state_dict())
    unexpected = sorted(set(info.get("unexpected_keys") or ()) - computed)
    if unexpected:
        raise broken(name, f"sus pesos no corresponden a su config.json (traen {thousands(len(unexpected))} "
                           "tensores que la red que describe no tiene), y sus respuestas no serían las del modelo "
                           "guardado")
    return model


def _load_processor(folder, name, settings):
    from transformers import AutoImageProcessor

    nested = settings["processor_config.json"]
    processor_file = "processor_config.json" if isinstance(nested, dict) and "image_processor" in nested \
        else "preprocessor_config.json"  # the one transformers takes the image processor from
    try:
        return AutoImageProcessor.from_pretrained(folder, backend="pil", trust_remote_code=False)
    except Exception as exc:
        raise ModelLoadError(
            f"El modelo {quoted(name)} no trae un preprocesador de imágenes válido ({processor_file})."
        ) from exc
