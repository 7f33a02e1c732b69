from pathlib import Path

from setuptools import find_packages, setup

# Two stacks from one code base, each with its own requirements file, so every version floor is
# written once: requirements.txt (TensorFlow 2.x, Python >= 3.10) and requirements-tf1.txt (the
# design card's TensorFlow 1.15, Python 3.7). Here each file's lines only get the marker of the
# Python it is for. TensorFlow itself is an extra, so that a GPU install does not get the CPU
# wheel beside the CUDA one:  pip install -e .[cpu]   or   pip install -e .[gpu]
HERE = Path(__file__).resolve().parent
STACKS = {"requirements.txt": "python_version >= '3.10'", "requirements-tf1.txt": "python_version < '3.8'"}
TENSORFLOW_BUILDS = {  # (cpu, gpu) distribution names per stack
    "requirements.txt": ("tensorflow-cpu", "tensorflow[and-cuda]"),
    "requirements-tf1.txt": ("tensorflow", "tensorflow-gpu"),
}


def requirements(name):
    lines = (line.split("#")[0].strip() for line in (HERE / name).read_text().splitlines())
    return [line for line in lines if line]


# what only the notebooks (and their test) need goes to the `notebook` extra
NOTEBOOK = ("nbclient", "nbformat", "ipykernel")

install_requires, extras = [], {"cpu": [], "gpu": [], "test": ["pytest>=7"], "notebook": []}
for name, marker in STACKS.items():
    for requirement in requirements(name):
        distribution, _, version = requirement.partition("==")
        if requirement.startswith(NOTEBOOK):
            extras["notebook"].append(f"{requirement}; {marker}")
        elif distribution in ("tensorflow", "tensorflow-cpu", "tensorflow-gpu"):
            cpu, gpu = TENSORFLOW_BUILDS[name]
            extras["cpu"].append(f"{cpu}=={version}; {marker}")
            extras["gpu"].append(f"{gpu}=={version}; {marker}")
        else:
            install_requires.append(f"{requirement}; {marker}")

setup(
    name="cnn_cookbook",
    version="0.1.0",
    description="The classic TensorFlow 1.x CNN recipes (cookbook ch. 8, Hvass-Labs #01-#15), "
                "runnable today in graph mode through tensorflow.compat.v1",
    packages=find_packages(include=["cnn_cookbook", "cnn_cookbook.*"]),
    # 3.7 for TensorFlow 1.15, >= 3.10 for TensorFlow 2.x; no TensorFlow we support runs on 3.8/3.9
    # with these pins.
    python_requires=">=3.7, !=3.8.*, !=3.9.*",
    install_requires=install_requires,
    extras_require=extras,
)
