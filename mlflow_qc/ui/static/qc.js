// The QC pages' one script (README: "The QC pages"). Every value from the store is set as text
// (textContent), never as HTML; the data comes from the page's JSON block and the /qc/api/ routes.
(function () {
  "use strict";

  const body = document.body;
  const BASE = body.dataset.base;
  const UI = body.dataset.ui;
  const DATA = JSON.parse(document.getElementById("qc-data").textContent || "{}");
  const PLOT_CONFIG = {displaylogo: false, responsive: true};
  const TRACKER_POLL_MS = 3000;
  const LIST_POLL_MS = 5000;

  function el(tag, props, ...children) {
    const node = document.createElement(tag);
    for (const [key, value] of Object.entries(props || {})) {
      if (value === null || value === undefined || value === false) continue;
      if (key === "text") node.textContent = String(value);
      else if (key === "className") node.className = value;
      else if (key === "dataset") Object.assign(node.dataset, value);
      else node.setAttribute(key, value === true ? "" : String(value));
    }
    for (const child of children.flat()) {
      if (child === null || child === undefined || child === false) continue;
      node.appendChild(typeof child === "string" ? document.createTextNode(child) : child);
    }
    return node;
  }

  function number(value, digits) {
    if (value === null || value === undefined || Number.isNaN(value)) return "—";
    return Number(value).toPrecision(digits || 4).replace(/\.?0+(e|$)/, "$1");
  }

  function duration(seconds) {
    if (seconds === null || seconds === undefined || !Number.isFinite(seconds)) return "—";
    const s = Math.max(0, Math.round(seconds));
    if (s < 90) return `${s} s`;
    const minutes = Math.round(s / 60);
    if (minutes < 90) return `${minutes} min`;
    return `${Math.floor(minutes / 60)} h ${minutes % 60} min`;
  }

  function when(ms) {
    return ms ? new Date(ms).toLocaleString() : "—";
  }

  function runHref(experimentId, runId) {
    return `${UI}#/experiments/${encodeURIComponent(experimentId)}/runs/${encodeURIComponent(runId)}`;
  }

  function badge(state) {
    return el("span", {className: `qc-state qc-state-${state}`, text: state, dataset: {state: state}});
  }

  function table(headers, rows, id) {
    return el("table", {className: "qc-table", id: id},
      el("thead", {}, el("tr", {}, headers.map((h) => el("th", {text: h})))),
      el("tbody", {}, rows));
  }

  function replace(root, ...children) {
    root.replaceChildren(...children.flat().filter(Boolean));
  }

  async function getJSON(url) {
    const response = await fetch(url, {headers: {Accept: "application/json"}, cache: "no-store"});
    const answer = await response.json();
    if (!response.ok) throw new Error(answer.error || response.statusText);
    return answer;
  }

  function poll(url, every, keepGoing, render) {
    // Polls while keepGoing(data) holds: a finished experiment stops it; a failed request retries slower.
    let delay = every;
    async function tick() {
      try {
        const data = await getJSON(url);
        render(data);
        delay = every;
        if (!keepGoing(data)) return;
      } catch (error) {
        delay = Math.min(delay * 2, 30000);
        const note = document.getElementById("qc-poll-error");
        if (note) note.textContent = `Could not refresh (${error.message}); retrying in ${duration(delay / 1000)}.`;
      }
      setTimeout(tick, delay);
    }
    setTimeout(tick, every);
  }

  // --- /qc/: the experiment list ---------------------------------------------------------

  function experimentRows(data) {
    return data.experiments.map((e) => {
      const models = `${e.finished ?? "—"} / ${e.failed ?? "—"} / ${e.planned ?? "—"}`;
      const best = e.best_job_index === null || e.best_job_index === undefined ? "—"
        : `job ${e.best_job_index}` + (e.best_score === null ? "" : ` (${e.ranking_metric} ${number(e.best_score)})`);
      const took = e.state === "stopped" ? null : ((e.end_ms || Date.now()) - e.start_ms) / 1000;
      return el("tr", {dataset: {runId: e.run_id}},
        el("td", {}, el("a", {href: `${UI}#/experiments/${encodeURIComponent(e.experiment_id)}`, text: e.experiment_name})),
        el("td", {}, el("a", {className: "qc-run", href: `${BASE}/experiment/${e.run_id}`, text: e.run_name || e.run_id})),
        el("td", {}, badge(e.state), e.error ? el("div", {className: "qc-error-line", text: e.error}) : null),
        el("td", {className: "qc-num", text: models}),
        el("td", {text: best}),
        el("td", {text: when(e.start_ms)}),
        el("td", {className: "qc-num", text: duration(took)}));
    });
  }

  function renderExperiments(data) {
    const root = document.getElementById("qc-root");
    if (!data.experiments.length) {
      replace(root, el("p", {text: "No mlflow_qc experiment in this store yet: train a recipe (see the README)."}));
      return;
    }
    replace(root,
      el("p", {className: "qc-note", text: "Models: finished / failed / planned. Open a run for its tracker."}),
      table(["Experiment", "Run", "State", "Models", "Best job", "Started", "Duration"], experimentRows(data), "qc-experiments"),
      el("p", {className: "qc-note", id: "qc-poll-error"}));
  }

  function anyRunning(data) {
    return data.experiments.some((e) => e.state === "running");
  }

  // --- /qc/experiment/<run_id>: the tracker ---------------------------------------------

  const chosen = new Set();  // job run ids picked for the head-to-head

  function hyperparameterText(values) {
    return Object.entries(values || {}).map(([k, v]) => `${k}=${v}`).join(", ");
  }

  function progress(data) {
    const c = data.counts;
    const planned = c.planned || (c.finished + c.failed + c.running + c.killed);
    const done = c.finished + c.failed + c.killed;
    const share = planned ? Math.min(done / planned, 1) : 0;
    const parts = [
      el("span", {}, el("b", {id: "qc-count-finished", text: c.finished}), " finished"),
      el("span", {}, el("b", {id: "qc-count-failed", text: c.failed}), " failed"),
      el("span", {}, el("b", {id: "qc-count-running", text: c.running}), " running"),
      c.killed ? el("span", {}, el("b", {id: "qc-count-killed", text: c.killed}), " killed") : null,
      el("span", {}, el("b", {id: "qc-count-planned", text: c.planned ?? "?"}), " planned"),
    ];
    let eta = null;
    if (data.eta && data.eta.per_minute === null) {
      eta = "ETA after the first model finishes";
    } else if (data.eta) {
      const pace = `${number(data.eta.per_minute, 3)} models/min`;
      eta = data.eta.seconds_left === null ? `${pace} (how many are planned is not recorded)`
        : `ETA ${duration(data.eta.seconds_left)} (${pace}, ${data.eta.remaining} to go)`;
    }
    return el("section", {className: "qc-progress"},
      el("div", {className: "qc-bar"}, el("div", {className: "qc-bar-done", style: `width:${(share * 100).toFixed(1)}%`})),
      el("p", {className: "qc-counts"}, parts),
      eta ? el("p", {id: "qc-eta", text: eta}) : null);
  }

  function compareLink() {
    const [a, b] = [...chosen];
    return chosen.size === 2
      ? el("a", {id: "qc-compare-link", href: `${BASE}/compare?a=${a}&b=${b}`, text: "Compare the two chosen jobs"})
      : el("span", {className: "qc-note", text: "Tick two jobs to compare them head-to-head."});
  }

  function leaderboard(data) {
    const metric = data.ranking_metric || "ranking metric";
    const rows = data.leaderboard.map((job) => {
      const box = job.job_run_id ? el("input", {type: "checkbox", className: "qc-pick", value: job.job_run_id,
                                                 checked: chosen.has(job.job_run_id), "aria-label": `choose ${job.name}`}) : null;
      if (box) box.addEventListener("change", () => {
        if (box.checked) chosen.add(job.job_run_id); else chosen.delete(job.job_run_id);
        while (chosen.size > 2) chosen.delete(chosen.values().next().value);
        render(DATA_NOW);
      });
      const score = job.mean === null ? "—" : number(job.mean) + (job.std === null ? "" : ` ± ${number(job.std, 2)}`);
      return el("tr", {dataset: {jobKey: job.job_key}},
        el("td", {className: "qc-num", text: job.rank}),
        el("td", {}, job.job_run_id ? el("a", {href: runHref(data.run.experiment_id, job.job_run_id), text: job.name}) : job.name,
          job.refit ? " (refit)" : "",
          job.rung === null || job.rung === undefined ? null
            : el("span", {className: "qc-rung", text: ` rung ${job.rung}, resource ${number(job.resource, 3)}`}),
          job.pruned_at === null || job.pruned_at === undefined ? null
            : el("span", {className: "qc-pruned", text: ` pruned at rung ${job.pruned_at}`})),
        el("td", {className: "qc-hp", text: hyperparameterText(job.hyperparameters)}),
        el("td", {className: "qc-num", text: `${job.finished} / ${job.failed} / ${job.running}`}),
        el("td", {className: "qc-num", text: score}),
        el("td", {}, job.best_model_run_id && data.whatif && (data.registered || []).includes(job.best_model_run_id)
          ? el("a", {className: "qc-whatif-link", href: `${BASE}/whatif/${job.best_model_run_id}`, text: "what-if"})
          : el("span", {title: "what-if opens registered models only", text: "—"})),
        el("td", {}, box));
    });
    const running = data.run.state === "running";
    const ranked = data.leaderboard.filter((job) => job.job_run_id && job.mean !== null && !job.refit && !job.baseline && !job.partial);
    const topTwo = ranked.length >= 2
      ? el("a", {id: "qc-top-two", href: `${BASE}/compare?a=${ranked[0].job_run_id}&b=${ranked[1].job_run_id}`,
                 text: `Head-to-head of ${ranked[0].name} and ${ranked[1].name}`}) : null;
    return el("section", {},
      el("h2", {text: running ? "Leaderboard so far" : "Leaderboard"}),
      el("p", {className: "qc-note", text: `Jobs by the mean of ${metric} over their finished models (${data.higher_is_better ? "higher" : "lower"} is better).`}),
      table(["#", "Job", "Hyperparameters", "Models ok / failed / running", metric, "Best model", "Compare"], rows, "qc-leaderboard"),
      el("p", {}, compareLink(), topTwo ? " · " : null, topTwo));
  }

  function failures(data) {
    if (!data.failures_total) return null;
    const items = data.failures.map((f) => el("li", {className: "qc-failure"},
      el("a", {href: runHref(data.run.experiment_id, f.run_id), text: f.name}), ": ",
      el("code", {className: "qc-error-line", text: f.error || "no error recorded"})));
    const more = data.failures_total > data.failures.length ? el("p", {className: "qc-note", text: `${data.failures_total - data.failures.length} more not shown.`}) : null;
    return el("section", {id: "qc-failures"}, el("h2", {text: `Failures (${data.failures_total})`}), el("ul", {}, items), more);
  }

  let DATA_NOW = DATA;

  function render(data) {
    DATA_NOW = data;
    const run = data.run;
    const end = run.end_ms || data.now_ms;
    const stateNote = {
      stopped: "Its process is gone (killed or crashed) while the store still says RUNNING; rerun the recipe to resume it.",
      killed: "It was interrupted; rerun the recipe to resume it.",
      failed: run.error ? `It failed: ${run.error}` : "It failed.",
    }[run.state];
    replace(document.getElementById("qc-root"),
      el("p", {className: "qc-meta"},
        el("span", {id: "qc-state-holder"}, badge(run.state)), " ",
        el("a", {href: `${UI}#/experiments/${encodeURIComponent(run.experiment_id)}`, text: run.experiment_name}), " · ",
        el("a", {href: runHref(run.experiment_id, run.run_id), text: "experiment run in MLflow"}), " · ",
        run.state === "running" ? null : el("a", {id: "qc-report", href: `${BASE}/report/${run.run_id}`, text: "report"}),
        run.state === "running" ? null : " · ",
        `started ${when(run.start_ms)}`, " · ", `${run.state === "running" ? "running for" : "took"} ${duration((end - run.start_ms) / 1000)}`),
      stateNote ? el("p", {className: "qc-state-note", text: stateNote}) : null,
      progress(data), leaderboard(data), failures(data),
      el("p", {className: "qc-note", id: "qc-updated", text: `Updated ${new Date(data.now_ms).toLocaleTimeString()}` +
        (run.state === "running" ? `; refreshes every ${TRACKER_POLL_MS / 1000} s.` : ".")}),
      el("p", {className: "qc-note", id: "qc-poll-error"}));
    body.dataset.state = run.state;
  }

  // --- figures (compare, what-if) --------------------------------------------------------

  function template() {
    const holder = document.getElementById("qc-template");
    return holder ? JSON.parse(holder.textContent) : {};
  }

  async function drawFigures() {
    const tpl = template();
    for (const holder of document.querySelectorAll("script.qc-figure-data")) {
      try {
        const figure = JSON.parse(holder.textContent);
        await Plotly.newPlot(holder.dataset.target, figure.data, Object.assign({template: tpl}, figure.layout || {}), PLOT_CONFIG);
      } catch (error) {
        console.error(`figure ${holder.dataset.target}: ${error}`);
      }
    }
    body.dataset.qcRendered = "true";
  }

  // --- /qc/whatif/<run_id> ---------------------------------------------------------------

  function whatif() {
    const inputs = [...document.querySelectorAll("#qc-form input[data-field]")];
    const tpl = template();
    let sequence = 0;
    let timer = null;

    function showErrors(fields) {
      for (const span of document.querySelectorAll(".qc-field-error")) {
        const message = fields[span.dataset.errorFor] || "";
        span.textContent = message;
        span.closest(".qc-field").classList.toggle("qc-invalid", Boolean(message));
      }
      document.getElementById("qc-form-error").textContent = fields[""] || "";
    }

    function showAnswer(answer) {
      document.getElementById("qc-prediction").textContent = `${answer.prediction}`;
      const probabilities = answer.probabilities || [];
      const holder = document.getElementById("qc-probability-table");
      replace(holder, probabilities.length ? table(["class", "probability"], probabilities.map((p) =>
        el("tr", {dataset: {class: p.class}}, el("td", {text: p.class}), el("td", {className: "qc-num qc-probability", text: number(p.probability)})))) : null);
      if (probabilities.length && window.Plotly) {
        Plotly.react("qc-probabilities", [{type: "bar", orientation: "h", x: probabilities.map((p) => p.probability),
          y: probabilities.map((p) => p.class), text: probabilities.map((p) => number(p.probability, 3)), textposition: "auto"}],
          {template: tpl, height: 80 + 40 * probabilities.length, margin: {l: 80, r: 20, t: 30, b: 40},
           xaxis: {range: [0, 1], title: {text: "probability"}}, yaxis: {type: "category"}}, PLOT_CONFIG);
      }
      body.dataset.loadedAt = answer.loaded_at;
    }

    async function ask() {
      const mine = ++sequence;
      const values = Object.fromEntries(inputs.map((input) => [input.dataset.field, input.value]));
      body.dataset.pending = "true";
      try {
        const response = await fetch(`${BASE}/api/whatif/${DATA.run_id}`, {
          method: "POST", headers: {"Content-Type": "application/json", Accept: "application/json"},
          body: JSON.stringify({values: values})});
        const answer = await response.json();
        if (mine !== sequence) return;  // a newer change is on its way
        if (response.ok) {
          showErrors({});
          showAnswer(answer);
        } else {
          showErrors(answer.fields || {"": answer.error || response.statusText});
          document.getElementById("qc-prediction").textContent = "—";
          replace(document.getElementById("qc-probability-table"));
          if (window.Plotly) Plotly.purge("qc-probabilities");
        }
      } catch (error) {
        if (mine === sequence) showErrors({"": `The server did not answer (${error.message}).`});
      } finally {
        if (mine === sequence) {
          body.dataset.pending = "false";
          body.dataset.answered = String(mine);
        }
      }
    }

    function changed() {
      clearTimeout(timer);
      timer = setTimeout(ask, 250);
    }

    for (const input of inputs) input.addEventListener("input", changed);
    document.getElementById("qc-reset").addEventListener("click", () => {
      const defaults = Object.fromEntries(DATA.fields.map((f) => [f.name, f.default]));
      for (const input of inputs) input.value = defaults[input.dataset.field];
      ask();
    });
    ask();
  }

  // --- start -----------------------------------------------------------------------------

  const page = body.dataset.page;
  if (page === "experiments") {
    renderExperiments(DATA);
    if (anyRunning(DATA)) poll(`${BASE}/api/experiments`, LIST_POLL_MS, anyRunning, renderExperiments);
  } else if (page === "tracker") {
    render(DATA);
    if (DATA.run.state === "running") {
      poll(`${BASE}/api/experiment/${DATA.run.run_id}`, TRACKER_POLL_MS, (data) => data.run.state === "running", render);
    }
  } else if (page === "compare") {
    drawFigures();
  } else if (page === "whatif") {
    whatif();
  }
})();
