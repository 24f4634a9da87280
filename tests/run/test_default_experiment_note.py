"""Under ``mlflow run`` without ``--experiment-name`` the run is MLflow's, in "Default": the command says so in one line."""

from __future__ import annotations

from types import SimpleNamespace

from mlflow_qc.run.session import say_where_it_went


def test_a_run_in_default_is_named_in_one_line_with_the_way_out(store, capsys):
    client, experiment_id = store
    recipe = SimpleNamespace(name="sonar-binary")
    in_default = client.create_run("0")
    say_where_it_went(client, in_default, recipe)
    [line] = capsys.readouterr().err.splitlines()
    assert line.startswith(f"note: mlflow run put run {in_default.info.run_id} into the experiment 'Default'")
    assert "--experiment-name sonar-binary" in line
    say_where_it_went(client, client.create_run(experiment_id), recipe)  # an experiment the user named: nothing to say
    assert capsys.readouterr().err == ""
