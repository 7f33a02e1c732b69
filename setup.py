from setuptools import find_packages, setup

# requirements.txt pins the CPU build of TensorFlow for the README's commands; as a package,
# TensorFlow is an extra so that a GPU install does not get the CPU wheel beside the CUDA one:
#   pip install -e .[cpu]   or   pip install -e .[gpu]
requirements = [line.split("#")[0].strip() for line in open("requirements.txt")]
tensorflow_pin = next(r for r in requirements if r.startswith("tensorflow-cpu=="))
version = tensorflow_pin.split("==")[1]

setup(
    name="cnn_cookbook",
    version="0.1.0",
    description="The classic TensorFlow 1.x CNN recipes (cookbook ch. 8, Hvass-Labs #01-#15), "
                "runnable today in graph mode through tensorflow.compat.v1",
    packages=find_packages(include=["cnn_cookbook", "cnn_cookbook.*"]),
    python_requires=">=3.10",
    install_requires=[r for r in requirements if r and not r.startswith("tensorflow")],
    extras_require={"cpu": [tensorflow_pin], "gpu": [f"tensorflow[and-cuda]=={version}"],
                    "test": ["pytest>=8"]},
)
