from setuptools import find_packages, setup

# Kept in step with conda.yaml (tests/test_packaging.py checks it).
INSTALL_REQUIRES = [
    "mlflow>=3.17,<4",
    "dvc>=3.60,<4",
    "numpy>=2.0,<3",
    "pandas>=2.2,<4",
    "pyarrow>=18",
    "pillow>=10",
    "scikit-learn>=1.6,<2",
    "scipy>=1.13",
    "torch==2.13.0",
    "tensorflow-cpu>=2.18,<3",
    "hyperopt>=0.2.7",
    "plotly>=6,<8",
    "pydantic>=2.7,<3",
    "click>=8.1",
    "tqdm>=4.66",
    "pyyaml>=6",
    "joblib>=1.4",
    "psutil>=5.9",
]

# trainer.backend: dask (pip install 'mlflow-qc[dask]'); the tests start real clusters, so they pull it too.
DASK_REQUIRES = ["dask>=2024.8", "distributed>=2024.8"]
TEST_REQUIRES = ["pytest>=8", "requests>=2.31", "playwright>=1.45", *DASK_REQUIRES]

setup(
    name="mlflow-qc",
    version="0.1.0",
    description="Seeded, leak-free, cross-validated experiments on MLflow and DVC",
    long_description=open("README.md").read(),
    long_description_content_type="text/markdown",
    license="BSD-3-Clause",
    python_requires=">=3.10",
    packages=find_packages(include=["mlflow_qc", "mlflow_qc.*"]),
    include_package_data=True,
    package_data={"mlflow_qc": ["demo/*", "demo/brain_tumor/*", "demo/liberty_moon/*", "template/MLproject", "template/recipes/*.yaml", "template/models/*.py", "ui/static/*"]},
    install_requires=INSTALL_REQUIRES,
    extras_require={"dask": DASK_REQUIRES, "test": TEST_REQUIRES},
    entry_points={
        "console_scripts": ["mlflow-qc=mlflow_qc.cli:console_main"],
        "mlflow.dataset_source": ["dvc=mlflow_qc.data.source:DVCDatasetSource"],
        "mlflow.run_context_provider": ["mlflow_qc=mlflow_qc.data.context:DVCRunContextProvider"],
        "mlflow.model_evaluator": ["qc=mlflow_qc.evaluate.evaluator:QCEvaluator"],
        "mlflow.app": ["qc=mlflow_qc.ui.app:create_app"],
    },
)
