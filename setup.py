from setuptools import find_packages, setup

setup(
    name="cnn_cookbook",
    version="0.1.0",
    description="The classic TensorFlow 1.x CNN recipes (cookbook ch. 8, Hvass-Labs #01-#15), "
                "runnable today in graph mode through tensorflow.compat.v1",
    packages=find_packages(include=["cnn_cookbook", "cnn_cookbook.*"]),
    python_requires=">=3.10",
    install_requires=[line.split("#")[0].strip() for line in open("requirements.txt")
                      if line.split("#")[0].strip()],
    extras_require={"test": ["pytest>=8"], "gpu": ["tensorflow[and-cuda]"]},
)
