"""`users-pipeline-init`: the first day written once into `.env`, never moved after."""

from datetime import date

from users_pipeline.init import main, write_first_day

DAY = date(2026, 11, 25)


def test_a_new_env_file_gets_the_first_day(tmp_path):
    env_file = tmp_path / ".env"

    said = write_first_day(env_file, DAY)

    assert said == f"{env_file}: USERS_FIRST_DAY=2026-11-25 (the first daily partition)"
    assert env_file.read_text().splitlines()[-1] == "USERS_FIRST_DAY=2026-11-25"


def test_an_env_file_keeps_its_other_settings_and_gains_the_day(tmp_path):
    env_file = tmp_path / ".env"
    env_file.write_text("S3_BUCKET=my-bucket")  # no final newline

    write_first_day(env_file, DAY)

    lines = env_file.read_text().splitlines()
    assert lines[0] == "S3_BUCKET=my-bucket"
    assert lines[-1] == "USERS_FIRST_DAY=2026-11-25"


def test_a_first_day_already_set_is_kept(tmp_path):
    env_file = tmp_path / ".env"
    env_file.write_text("# USERS_FIRST_DAY=2026-01-01\nexport USERS_FIRST_DAY='2026-11-20'\n")
    before = env_file.read_text()

    said = write_first_day(env_file, DAY)

    assert said == f"{env_file} keeps USERS_FIRST_DAY=2026-11-20"
    assert env_file.read_text() == before


def test_a_bad_first_day_is_refused_in_one_line_and_writes_nothing(tmp_path, capsys):
    env_file = tmp_path / ".env"

    code = main(["--first-day", "2999-01-01", "--env-file", str(env_file)])

    assert code == 2
    (line,) = capsys.readouterr().err.splitlines()
    assert line.startswith("users-pipeline-init: USERS_FIRST_DAY='2999-01-01' is in the future")
    assert not env_file.exists()
