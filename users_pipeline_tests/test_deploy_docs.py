"""No untested deployment text: every fenced ```yaml block of the README, and
`deploy/dagster.yaml`, is loaded and validated against the installed libraries' own schemas.

- An instance config (`storage`, `run_launcher`, `run_coordinator`, ...) goes through Dagster's
  own `dagster.yaml` loader, then each `{module, class, config}` block through its class's
  `config_type()` and, when building the class contacts nothing, is built as the instance would
  build it (`DockerRunLauncher` runs its own checks then). `K8sRunLauncher` loads a kubeconfig or
  the in-cluster config when built, so its config is checked against its schema only.
- A run config (`execution: config:`) is checked against the named executor's run-config schema
  (celery, k8s, docker or multiprocess), and Celery's `config_source`, which Dagster's schema
  lets through unchecked, against Celery's own setting names.
- A source's `defs.yaml` is loaded as `dagster dev` loads it, beside the shipped sources; a
  `record:` excerpt is checked field by field and against the shipped or example source it
  quotes, and an `api:` excerpt against the example source it quotes.
- Any other snippet fails: a new kind of snippet needs a validation here first.

No cluster, Docker daemon, broker or database is contacted.
"""

from __future__ import annotations

import importlib
import importlib.util
import re
import shutil
import sys
import tempfile
import uuid
from collections.abc import Iterator, Mapping
from pathlib import Path

import pytest
import yaml
from dagster import BackfillPolicy, Definitions, ExecutorDefinition, multiprocess_executor
from dagster._config import process_config, resolve_to_config_type
from dagster._core.definitions.run_config import def_config_field
from dagster._core.errors import DagsterInvalidConfigError
from dagster._core.instance.config import dagster_instance_config, dagster_instance_config_schema
from dagster._core.instance.ref import configurable_class_data
from dagster._serdes.config_class import class_from_code_pointer
from pydantic import ValidationError

from users_pipeline.components.yaml_model import FieldModel, SourceDefinitionError
from users_pipeline.contract.field import ContractError, Field
from users_pipeline.contract.record import RecordContract
from users_pipeline.definitions import SOURCES, SourceClashError, load_sources
from users_pipeline.orchestration.resources import ClockResource, DataDirResource

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
DEPLOY_YAML = ROOT / "deploy" / "dagster.yaml"
EXAMPLE_SOURCES = ROOT / "examples" / "sources"
FENCE = re.compile(r"^(\s*)```(\S*)\s*$")

# Values for the `{env: NAME}` settings of a snippet, as a deployment's environment gives them.
ENV_VALUES = {
    "DAGSTER_POSTGRES_URL": "postgresql+psycopg2://dagster:secret@db.internal:5432/dagster",
}


class SnippetError(AssertionError):
    """A snippet that Dagster's schemas accept but that cannot work, or that nothing validates."""


def yaml_blocks(text: str) -> list[tuple[int, str]]:
    """(line of the opening fence, content) of each fenced ```yaml block."""
    lines, blocks, index = text.splitlines(), [], 0
    while index < len(lines):
        opening = FENCE.match(lines[index])
        if not opening:
            index += 1
            continue
        indent, language = opening.groups()
        end = index + 1
        while end < len(lines) and not lines[end].strip().startswith("```"):
            end += 1
        if language in ("yaml", "yml"):
            content = [line[len(indent) :] for line in lines[index + 1 : end]]
            blocks.append((index + 1, "\n".join(content) + "\n"))
        index = end + 1
    return blocks


def snippets() -> list[tuple[str, str]]:
    """(where, text) of every YAML the deployment documentation shows."""
    found = [(f"README.md:{line}", text) for line, text in yaml_blocks(README.read_text())]
    return [*found, ("deploy/dagster.yaml", DEPLOY_YAML.read_text())]


def readme_snippet(containing: str) -> str:
    texts = [text for _, text in snippets() if containing in text]
    assert len(texts) == 1, f"expected one README snippet containing {containing!r}"
    return texts[0]


# ---------------------------------------------------------------------------------------------
# The validation


def validate(text: str, where: str = "snippet") -> str:
    """Validate one snippet by its kind; the kind, or an error naming what is wrong."""
    document = yaml.safe_load(text)
    kind = kind_of(document)
    if kind is None:
        first = next((line for line in text.splitlines() if line.strip()), "")
        raise SnippetError(
            f"the README has a YAML snippet no test validates: {where}: {first!r}"
            " (teach test_deploy_docs.py its kind)"
        )
    with pytest.MonkeyPatch.context() as env:
        for name in sorted(env_refs(document)):
            env.setenv(name, ENV_VALUES.get(name, "5432" if name.endswith("PORT") else "test"))
        {
            "instance": validate_instance,
            "run_config": validate_run_config,
            "source": validate_source,
            "record": validate_record_excerpt,
            "api": validate_api_excerpt,
        }[kind](text, document)
    return kind


def kind_of(document: object) -> str | None:
    if not isinstance(document, Mapping):
        return None
    if document.get("type") == "users_pipeline.components.RestSource":
        return "source"
    if set(document) == {"record"}:
        return "record"
    if set(document) == {"api"}:
        return "api"
    if set(document) == {"execution"}:
        return "run_config"
    if set(document) & set(dagster_instance_config_schema()):
        return "instance"  # any stray top-level key is then Dagster's loader's to reject
    return None


def env_refs(node: object) -> Iterator[str]:
    """The NAME of each `{env: NAME}` in a Dagster config."""
    if isinstance(node, Mapping):
        if set(node) == {"env"} and isinstance(node["env"], str):
            yield node["env"]
        for value in node.values():
            yield from env_refs(value)
    elif isinstance(node, list):
        for value in node:
            yield from env_refs(value)


def validate_instance(text: str, document: Mapping) -> None:
    """A `dagster.yaml`: Dagster's loader checks the top level (including `storage`), where a
    `{module, class, config}` block's config is free-form; each such block is then checked
    against its class."""
    with tempfile.TemporaryDirectory() as home:
        Path(home, "dagster.yaml").write_text(text)
        config, _ = dagster_instance_config(home)
    blocks = [*config.values(), *(config.get("storage") or {}).values()]
    for block in blocks:
        if isinstance(block, Mapping) and {"module", "class"} <= set(block):
            validate_configurable_class(block)


def validate_configurable_class(block: Mapping) -> object | None:
    """The config against the class's `config_type()`; then, unless building the class contacts
    something, the class built as the instance builds it (`ConfigurableClassData.rehydrate`)."""
    from dagster_docker import DockerRunLauncher
    from dagster_docker.utils import validate_docker_image
    from dagster_k8s import K8sRunLauncher

    data = configurable_class_data(block)  # as the instance reads it (`dagster.core` is legacy)
    klass = class_from_code_pointer(data.module_name, data.class_name)
    config = data.config_dict
    result = process_config(resolve_to_config_type(klass.config_type()), config)
    if not result.success:
        raise DagsterInvalidConfigError(
            f"Errors in config for {block['module']}.{block['class']}", result.errors, config
        )
    if issubclass(klass, K8sRunLauncher):
        return None  # its constructor loads the cluster's config
    instance_part = data.rehydrate()
    if isinstance(instance_part, DockerRunLauncher) and instance_part.image:
        validate_docker_image(instance_part.image)  # what launching a run checks
    return instance_part


def executors() -> dict[str, ExecutorDefinition]:
    from dagster_celery import celery_executor
    from dagster_docker import docker_executor
    from dagster_k8s import k8s_job_executor

    return {
        "celery_executor": celery_executor,
        "k8s_job_executor": k8s_job_executor,
        "docker_executor": docker_executor,
        "multiprocess_executor": multiprocess_executor,
    }


def executor_for(text: str, config: object) -> ExecutorDefinition:
    """The executor a run config is for: the one its text names (`# dagster_celery.
    celery_executor`), else the only one whose schema has all (or most) of its keys."""
    known = executors()
    named = {name for name in known if re.search(rf"\b{name}\b", text)}
    if len(named) == 1:
        return known[named.pop()]
    keys = set(config) if isinstance(config, Mapping) else set()
    shared = {name: len(keys & set(executor_fields(known[name]))) for name in known}
    best = max(shared.values())
    candidates = [name for name, count in shared.items() if count == best]
    if best == 0 or len(candidates) > 1:
        raise SnippetError(
            f"a run config fits several executors ({', '.join(candidates)}): name the one it is"
            " for in a comment of the snippet"
        )
    return known[candidates[0]]


def executor_fields(executor: ExecutorDefinition) -> list[str]:
    return list(resolve_to_config_type(executor.config_schema.config_type).fields)


def validate_run_config(text: str, document: Mapping) -> None:
    """`execution: config:` against the run-config schema of a job with that executor; then
    what the executor's schema lets through."""
    from dagster_docker.utils import validate_docker_config, validate_docker_image

    execution = document["execution"]
    config = execution.get("config") if isinstance(execution, Mapping) else None
    executor = executor_for(text, config)
    result = process_config(def_config_field(executor).config_type, execution)
    if not result.success:
        raise DagsterInvalidConfigError(
            f"Errors in the run config of a job with the {executor.name} executor",
            result.errors,
            execution,
        )
    config = result.value.get("config") or {}
    if executor.name == "celery":
        check_celery_config(config)
    if executor.name == "docker":
        validate_docker_config(
            config.get("network"), config.get("networks"), config.get("container_kwargs")
        )
        if config.get("image"):
            validate_docker_image(config["image"])


def check_celery_config(config: Mapping) -> None:
    """`config_source` is free-form in dagster-celery's schema and goes to Celery as is: its keys
    must be Celery settings (a misspelt one is silently ignored). `include` is imported by the
    run process."""
    from celery.app.defaults import DEFAULTS  # every lowercase Celery setting name

    unknown = sorted(set(config.get("config_source") or {}) - set(DEFAULTS))
    if unknown:
        raise SnippetError(f"config_source has keys that are not Celery settings: {unknown}")
    missing = [name for name in config.get("include") or [] if not importable(name)]
    if missing:
        raise SnippetError(f"include names modules that do not import here: {missing}")


def importable(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except ModuleNotFoundError:
        return False


def validate_source(text: str, document: Mapping) -> None:
    """A source's `defs.yaml`, loaded as the definitions load it: beside the shipped sources, so
    that a clash of tables or prefixes fails too."""
    name = str((document.get("attributes") or {}).get("name"))
    with tempfile.TemporaryDirectory() as root:
        package = Path(root) / f"readme_sources_{uuid.uuid4().hex[:8]}"
        shutil.copytree(SOURCES, package, ignore=shutil.ignore_patterns("__pycache__"))
        (package / name).mkdir(exist_ok=True)
        (package / name / "defs.yaml").write_text(text)
        sys.path.insert(0, root)
        try:
            sources = load_sources(importlib.import_module(package.name))
        finally:
            sys.path.remove(root)
            sys.modules.pop(package.name, None)
        # With the resources every source shares, as the code location has them.
        shared = {"clock": ClockResource(), "data_dir": DataDirResource(path=root)}
        defs = Definitions.merge(sources, Definitions(resources=shared))
        assert defs.resolve_job_def(f"{name}_daily").name == f"{name}_daily"


def shipped_sources() -> list[Path]:
    """The shipped source and the examples (`examples/sources/`), which the tests load."""
    return sorted([*SOURCES.glob("*/defs.yaml"), *EXAMPLE_SOURCES.glob("*/defs.yaml")])


def validate_api_excerpt(text: str, document: Mapping) -> None:
    """An `api:` block quoted from an example source, exactly as its `defs.yaml` has it."""
    for path in shipped_sources():
        if yaml.safe_load(path.read_text())["attributes"]["api"] == document["api"]:
            return
    raise SnippetError(f"the api block {document['api']} is no example source's")


def validate_record_excerpt(text: str, document: Mapping) -> None:
    """A `record:` quoted from a shipped source: each field valid, the whole a valid contract,
    and every attribute shown as the shipped `defs.yaml` has it."""
    record = document["record"]
    fields = [FieldModel.model_validate(field) for field in record]
    RecordContract(tuple(Field(**field.model_dump()) for field in fields))
    shipped = {
        path.parent.name: yaml.safe_load(path.read_text())["attributes"]["record"]
        for path in shipped_sources()
    }
    names = [field["name"] for field in record]
    source = next((s for s, rec in shipped.items() if [f["name"] for f in rec] == names), None)
    if source is None:
        raise SnippetError(f"the record {names} is no shipped source's record")
    for shown, actual in zip(record, shipped[source], strict=True):
        differing = {key: value for key, value in shown.items() if actual.get(key) != value}
        if differing:
            raise SnippetError(
                f"field {shown['name']!r} differs from sources/{source}/defs.yaml: {differing}"
            )


# ---------------------------------------------------------------------------------------------
# Every snippet the documentation shows


def test_every_yaml_block_of_the_readme_is_found():
    fences = [line for line in README.read_text().splitlines() if FENCE.match(line)]
    yaml_fences = [line for line in fences if line.strip() in ("```yaml", "```yml")]
    assert len(yaml_blocks(README.read_text())) == len(yaml_fences) > 0


@pytest.mark.parametrize(("where", "text"), snippets(), ids=[where for where, _ in snippets()])
def test_the_snippet_is_valid(where, text):
    validate(text, where)


def test_the_readme_shows_each_kind_it_deploys_with():
    kinds = {kind_of(yaml.safe_load(text)) for _, text in snippets()}
    assert {"instance", "source", "record"} <= kinds


def test_the_readme_todos_source_is_the_one_the_tests_ingest_end_to_end():
    """The README says the suite ingests exactly its todos source (test_sources.py)."""
    from users_pipeline_tests.conftest import TODOS_YAML

    assert yaml.safe_load(readme_snippet("name: todos")) == yaml.safe_load(TODOS_YAML)


# ---------------------------------------------------------------------------------------------
# A wrong key of each kind is caught: the snippet as shown passes, the changed one fails.


def assert_caught(text: str, old: str, new: str, error: type[Exception], match: str) -> None:
    validate(text)
    assert old in text
    with pytest.raises(error, match=match):
        validate(text.replace(old, new, 1))


# Dagster's loader takes any `config:` of a configurable class: the class's schema catches it.
@pytest.mark.parametrize(
    ("document", "old", "new"),
    [
        ("deploy/dagster.yaml", "\ntelemetry:", "\ntelemetri:"),
        ("deploy/dagster.yaml", "postgres_url:", "postgres_uri:"),
        ("deploy/dagster.yaml", "max_concurrent_runs:", "max_concurrent_run:"),
        ("K8sRunLauncher", "job_image:", "image:"),
        ("DockerRunLauncher", "    image:", "    images:"),
    ],
    ids=["instance", "storage", "run coordinator", "k8s run launcher", "docker run launcher"],
)
def test_a_wrong_key_is_caught(document, old, new):
    text = (
        DEPLOY_YAML.read_text() if document == "deploy/dagster.yaml" else readme_snippet(document)
    )
    wrong = new.strip().rstrip(":")
    assert_caught(text, old, new, DagsterInvalidConfigError, f'unexpected config entry "{wrong}"')


def test_a_k8s_run_launcher_without_its_instance_config_map_is_caught():
    text = readme_snippet("K8sRunLauncher")
    line = next(line for line in text.splitlines() if "instance_config_map:" in line)
    assert_caught(
        text, line + "\n", "", DagsterInvalidConfigError,
        'Missing required config entry "instance_config_map"',
    )  # fmt: skip


def test_docker_run_launcher_checks_the_library_makes_when_built_are_run():
    text = readme_snippet("DockerRunLauncher")
    with pytest.raises(Exception, match="'environment' cannot be used in 'container_kwargs'"):
        validate(text + "    container_kwargs: {environment: [X=1]}\n")
    with pytest.raises(Exception, match="is not correctly formatted"):
        validate(re.sub(r"image: .*", "image: Users Pipeline", text, count=1))


CELERY = """
# dagster_celery.celery_executor
execution:
  config:
    broker: {env: CELERY_BROKER_URL}
    backend: redis://redis.internal:6379/1
    include: [users_pipeline.definitions]
    config_source:
      task_acks_late: true
      task_reject_on_worker_lost: true
"""


def test_a_wrong_celery_executor_key_is_caught():
    assert_caught(CELERY, "broker:", "brokr:", DagsterInvalidConfigError, '"brokr"')


def test_a_celery_executor_config_is_told_by_its_keys():
    assert validate(CELERY.replace("# dagster_celery.celery_executor\n", "")) == "run_config"
    with pytest.raises(DagsterInvalidConfigError, match="celery executor"):
        validate(CELERY.replace("# dagster_celery.celery_executor\n", "").replace("backend", "x"))


def test_a_misspelt_celery_setting_is_caught():
    # dagster-celery's schema takes any `config_source`: Celery's setting names catch it.
    assert_caught(CELERY, "task_acks_late:", "task_ack_late:", SnippetError, "task_ack_late")


def test_a_celery_include_that_does_not_import_is_caught():
    assert_caught(
        CELERY, "users_pipeline.definitions", "users_pipeline.defnitions",
        SnippetError, "users_pipeline.defnitions",
    )  # fmt: skip


def test_the_run_config_is_nested_as_a_job_takes_it():
    assert_caught(
        CELERY, "  config:\n", "  celery:\n", DagsterInvalidConfigError, '"celery"'
    )  # fmt: skip


@pytest.mark.parametrize(
    ("text", "old", "new"),
    [
        (
            "# dagster_k8s.k8s_job_executor\nexecution:\n  config:\n    job_namespace: dagster\n"
            "    max_concurrent: 4\n    step_k8s_config:\n      container_config:\n"
            "        resources: {limits: {cpu: '1'}}\n",
            "job_namespace:",
            "job_namespce:",
        ),
        (
            "# dagster_docker.docker_executor\nexecution:\n  config:\n"
            "    image: users-pipeline:1.0\n    networks: [dagster_net]\n",
            "networks:",
            "network_list:",
        ),
        (
            "# multiprocess_executor\nexecution:\n  config:\n    max_concurrent: 2\n",
            "max_concurrent:",
            "max_concurrency:",
        ),
    ],
    ids=["k8s_job_executor", "docker_executor", "multiprocess_executor"],
)
def test_a_wrong_executor_key_is_caught(text, old, new):
    assert_caught(text, old, new, DagsterInvalidConfigError, new.rstrip(":"))


def test_a_run_config_that_fits_several_executors_must_name_one():
    with pytest.raises(SnippetError, match="name the one it is for"):
        validate("execution:\n  config:\n    max_concurrent: 4\n")


def test_a_wrong_source_key_is_caught():
    assert_caught(
        readme_snippet("name: todos"), "  name: todos\n", "  name: todos\n  colour: blue\n",
        SourceDefinitionError, "colour.*Extra inputs are not permitted",
    )  # fmt: skip


def test_a_source_clashing_with_a_shipped_one_is_caught():
    assert_caught(
        readme_snippet("name: todos"), "default: todos}\n  record", "default: users}\n  record",
        SourceClashError, "both use the table 'users'",
    )  # fmt: skip


def test_a_wrong_record_field_key_is_caught():
    assert_caught(
        readme_snippet("name: inserted_from"), "not_blank:", "not_empty:",
        ValidationError, "not_empty",
    )  # fmt: skip


def test_a_wrong_record_declaration_is_caught():
    text = readme_snippet("name: inserted_from")
    with pytest.raises(ContractError):
        validate(text.replace("key: true, ", "", 1))


def test_a_record_differing_from_the_shipped_source_is_caught():
    assert_caught(
        readme_snippet("name: inserted_from"), "values: [female, male]", "values: [f, m]",
        SnippetError, "differs from sources/users/defs.yaml",
    )  # fmt: skip


def test_a_snippet_of_another_kind_fails():
    with pytest.raises(SnippetError, match="the README has a YAML snippet no test validates"):
        validate("services:\n  dagster:\n    image: users-pipeline:1.0\n", "README.md:1")


def test_the_readme_explains_the_dialogs_backfill_warning_for_one_shared_policy():
    """The Materialize dialog says "varying backfill policies" for any selection of several
    assets (it compares them by identity): the README says so, and that they share one."""
    from users_pipeline import defs

    policies = {asset.backfill_policy for asset in defs.assets}
    assert policies == {BackfillPolicy.single_run()}
    text = " ".join(README.read_text().split())
    assert "using varying backfill policies" in text
    assert "all three share `BackfillPolicy.single_run()`" in text
