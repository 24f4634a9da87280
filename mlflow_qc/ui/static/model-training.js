// `mlflow server --app-name qc`: MLflow 3's UI opens every experiment on its GenAI overview (traces,
// tokens) unless this browser once chose "Model training" in the sidebar switch, whatever the
// experiment's mlflow.experimentKind tag says. Choose Model training for a browser that has chosen
// nothing yet, so a qc experiment opens on its runs table; a choice made in the switch is kept.
(function () {
  "use strict";
  const KEY = "mlflow.workflowType_v1";  // MLflow's own setting (its useLocalStorage hook: key + "_v" + version)
  try {
    if (window.localStorage.getItem(KEY) === null) window.localStorage.setItem(KEY, JSON.stringify("machine_learning"));
  } catch (error) {
    // storage disabled: MLflow's own default applies
  }
})();
