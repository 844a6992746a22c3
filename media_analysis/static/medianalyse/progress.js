/* Live progress of an analysis job, without reloading the page.
 *
 * Updates come from the job's WebSocket (/ws/jobs/<id>/), which sends a
 * snapshot on connect and then one per change. A socket that drops after
 * having worked is reopened with exponential back-off (1 s, 2 s, 4 s... up to
 * 30 s, with jitter so many pages do not reconnect in step). When a socket
 * cannot be opened at all (a WSGI-only server, a proxy without WebSocket
 * support) the page polls the job's JSON API instead, and keeps trying the
 * socket now and then. Everything stops once the job has settled: ended, and
 * no chunk of it still running (after a cancel, the chunks already running
 * finish and their counts keep arriving).
 */
(function () {
  "use strict";

  var root = document.getElementById("ma-job");
  if (!root) {
    return;
  }

  var ACTIVE = ["pending", "running"];
  var STATUS_LABELS = {
    pending: "Pending",
    running: "Running",
    completed: "Completed",
    failed: "Failed",
    cancelled: "Cancelled"
  };
  var POLL_MS = 2000;
  var BASE_BACKOFF_MS = 1000;
  var MAX_BACKOFF_MS = 30000;
  // Failed openings in a row before the page stops waiting and polls.
  var OPEN_FAILURES_BEFORE_POLLING = 2;
  var CLOSE_FORBIDDEN = 4403;
  var CLOSE_NOT_FOUND = 4404;

  var jobId = root.getAttribute("data-job-id");
  var wsPath = root.getAttribute("data-ws-path");
  var apiUrl = root.getAttribute("data-api-url");
  var mediaPrefix = root.getAttribute("data-media-prefix") || "";
  var bar = document.getElementById("ma-progress-bar");
  var statusEl = document.getElementById("ma-status");
  var connectionEl = document.getElementById("ma-connection");
  var summary = document.getElementById("ma-summary");
  var cancelForm = document.getElementById("ma-cancel");
  var settlingEl = document.getElementById("ma-settling");
  var notProcessedEl = document.getElementById("ma-not-processed-counter");
  var errorEl = document.getElementById("ma-error");
  var failuresBody = document.querySelector("#ma-failures tbody");

  var state = {
    finished: false,
    socket: null,
    attempt: 0,
    failedOpens: 0,
    polling: false,
    pollTimer: null,
    reconnectTimer: null,
    latestProcessed: -1,
    mode: "connecting"
  };

  function dash(value, text) {
    return value === null || value === undefined ? "\u2014" : text;
  }

  // Mirrors admin_views.format_seconds so the server's first render and later updates read alike.
  function formatSeconds(seconds) {
    if (seconds === null || seconds === undefined) {
      return "\u2014";
    }
    if (seconds < 60) {
      return seconds.toFixed(1) + " s";
    }
    var whole = Math.round(seconds);
    var hours = Math.floor(whole / 3600);
    var minutes = Math.floor((whole % 3600) / 60);
    var secs = whole % 60;
    var pad = function (n) { return (n < 10 ? "0" : "") + n; };
    return hours ? hours + " h " + pad(minutes) + " min" : minutes + " min " + pad(secs) + " s";
  }

  function setField(name, text) {
    var nodes = root.querySelectorAll('[data-field="' + name + '"]');
    for (var i = 0; i < nodes.length; i++) {
      nodes[i].textContent = text;
    }
  }

  function setConnection(mode, text) {
    state.mode = mode;
    connectionEl.setAttribute("data-mode", mode);
    connectionEl.textContent = text;
  }

  function renderFailures(failures) {
    while (failuresBody.firstChild) {
      failuresBody.removeChild(failuresBody.firstChild);
    }
    if (!failures || !failures.length) {
      var empty = document.createElement("tr");
      empty.className = "ma-empty";
      var cell = document.createElement("td");
      cell.colSpan = 4;
      cell.textContent = "No failures so far.";
      empty.appendChild(cell);
      failuresBody.appendChild(empty);
      return;
    }
    failures.slice(0, 10).forEach(function (failure) {
      var row = document.createElement("tr");
      var idCell = document.createElement("td");
      idCell.setAttribute("data-label", "Media");
      if (mediaPrefix) {
        var link = document.createElement("a");
        link.href = mediaPrefix + encodeURIComponent(String(failure.media_id)) + "/change/";
        link.textContent = String(failure.media_id);
        idCell.appendChild(link);
      } else {
        // No prefix: the user may not open media in the admin, so the id is plain text.
        idCell.textContent = String(failure.media_id);
      }
      var urlCell = document.createElement("td");
      urlCell.setAttribute("data-label", "URL");
      urlCell.className = "ma-url";
      urlCell.textContent = String(failure.url || "").slice(0, 90);
      var classCell = document.createElement("td");
      classCell.setAttribute("data-label", "Error class");
      var code = document.createElement("code");
      code.textContent = String(failure.error_class || "");
      classCell.appendChild(code);
      var reasonCell = document.createElement("td");
      reasonCell.setAttribute("data-label", "Reason");
      reasonCell.textContent = String(failure.reason || "").slice(0, 200);
      row.appendChild(idCell);
      row.appendChild(urlCell);
      row.appendChild(classCell);
      row.appendChild(reasonCell);
      failuresBody.appendChild(row);
    });
  }

  function render(job) {
    if (!job || typeof job.progress !== "number" || String(job.id) !== jobId) {
      return;
    }
    var active = ACTIVE.indexOf(job.status) !== -1;
    // Snapshots from before the field existed: an ended job was final.
    var settled = typeof job.settled === "boolean" ? job.settled : !active;
    // A relayed event may be older than a snapshot already shown; counts never go back.
    if (!settled && job.processed < state.latestProcessed) {
      return;
    }
    state.latestProcessed = job.processed;
    var percent = job.progress.toFixed(1) + "%";
    bar.value = job.progress;
    bar.textContent = percent;
    bar.setAttribute("aria-valuetext", percent + ", " + job.processed + " of " + job.total + " media");
    setField("progress", percent);
    setField("total", String(job.total));
    setField("processed", String(job.processed));
    setField("analysed", String(job.analysed));
    setField("reused", String(job.reused));
    setField("unchanged", String(job.unchanged));
    setField("failed", String(job.failed));
    setField("skipped", String(job.skipped));
    setField("not_processed", String(job.not_processed || 0));
    setField("running_chunks", String(job.running_chunks || 0));
    setField("throughput", dash(job.throughput, job.throughput !== null ? job.throughput.toFixed(2) + " media/s" : ""));
    setField("eta", active ? formatSeconds(job.eta_seconds) : "\u2014");
    setField("duration", formatSeconds(job.duration_seconds));
    setField("success_rate", dash(job.success_rate, job.success_rate !== null ? job.success_rate.toFixed(1) + "%" : ""));
    var label = STATUS_LABELS[job.status] || job.status;
    statusEl.textContent = label;
    statusEl.setAttribute("data-status", job.status);
    setField("status-text", label.toLowerCase());
    if (job.error) {
      errorEl.textContent = job.error;
      errorEl.hidden = false;
    }
    renderFailures(job.recent_failures);
    if (!active) {
      ended();
    }
    if (settlingEl) {
      settlingEl.hidden = active || settled;
    }
    if (settled) {
      finish();
    }
  }

  // Ended, perhaps not settled: nothing more to cancel, the summary applies; updates go on.
  function ended() {
    summary.hidden = false;
    if (cancelForm) {
      cancelForm.hidden = true;
    }
    if (notProcessedEl) {
      notProcessedEl.hidden = false;
    }
  }

  function finish() {
    state.finished = true;
    ended();
    clearTimeout(state.reconnectTimer);
    stopPolling();
    if (state.socket) {
      state.socket.close(1000, "finished");
      state.socket = null;
    }
    setConnection("finished", "Finished.");
  }

  // --- Polling ------------------------------------------------------------

  function pollOnce() {
    if (!apiUrl || state.finished) {
      return Promise.resolve();
    }
    return fetch(apiUrl, {
      credentials: "same-origin",
      cache: "no-store",
      headers: { Accept: "application/json" }
    })
      .then(function (response) {
        if (!response.ok) {
          throw new Error("HTTP " + response.status);
        }
        return response.json();
      })
      .then(render)
      .catch(function (error) {
        if (state.polling) {
          setConnection("polling-error", "Could not read the job (" + error.message + "); retrying.");
        }
      });
  }

  function pollLoop() {
    if (!state.polling || state.finished) {
      return;
    }
    pollOnce().then(function () {
      if (state.polling && !state.finished) {
        state.pollTimer = setTimeout(pollLoop, POLL_MS);
      }
    });
  }

  function startPolling(reason) {
    if (state.finished) {
      return;
    }
    setConnection("polling", "Updating every " + POLL_MS / 1000 + " s (" + reason + ").");
    if (!state.polling) {
      state.polling = true;
      pollLoop();
    }
  }

  function stopPolling() {
    state.polling = false;
    clearTimeout(state.pollTimer);
  }

  // --- WebSocket ----------------------------------------------------------

  function backoff() {
    var delay = Math.min(MAX_BACKOFF_MS, BASE_BACKOFF_MS * Math.pow(2, state.attempt));
    state.attempt += 1;
    return Math.round(delay * (0.75 + Math.random() * 0.5));
  }

  function scheduleReconnect() {
    if (state.finished) {
      return;
    }
    var delay = backoff();
    if (!state.polling) {
      setConnection("reconnecting", "Connection lost; reconnecting in " + Math.ceil(delay / 1000) + " s.");
      // Catch up on what happened while the socket was down.
      pollOnce();
    }
    clearTimeout(state.reconnectTimer);
    state.reconnectTimer = setTimeout(connect, delay);
  }

  function connect() {
    if (state.finished) {
      return;
    }
    if (!("WebSocket" in window) || typeof window.WebSocket !== "function") {
      startPolling("live updates are not supported by this browser");
      return;
    }
    var scheme = window.location.protocol === "https:" ? "wss://" : "ws://";
    var socket;
    try {
      socket = new window.WebSocket(scheme + window.location.host + wsPath);
    } catch (error) {
      state.failedOpens += 1;
      startPolling("live updates unavailable");
      return;
    }
    var opened = false;
    state.socket = socket;
    socket.onopen = function () {
      opened = true;
      state.attempt = 0;
      state.failedOpens = 0;
      stopPolling();
      setConnection("live", "Live.");
    };
    socket.onmessage = function (event) {
      var message;
      try {
        message = JSON.parse(event.data);
      } catch (error) {
        return;
      }
      if (message && message.job) {
        render(message.job);
      }
    };
    socket.onclose = function (event) {
      if (state.socket === socket) {
        state.socket = null;
      }
      if (state.finished) {
        return;
      }
      if (event.code === CLOSE_FORBIDDEN || event.code === CLOSE_NOT_FOUND) {
        // The socket said no for good: polling still shows what the API allows.
        startPolling("live updates refused");
        return;
      }
      if (!opened) {
        state.failedOpens += 1;
        if (state.failedOpens >= OPEN_FAILURES_BEFORE_POLLING) {
          startPolling("live updates unavailable");
        }
      }
      scheduleReconnect();
    };
  }

  document.addEventListener("visibilitychange", function () {
    // Back on a tab that slept: ask for a fresh snapshot instead of waiting for the next change.
    if (document.visibilityState === "visible" && state.socket && state.socket.readyState === 1) {
      state.socket.send(JSON.stringify({ type: "refresh" }));
    }
  });

  var initial = document.getElementById("ma-initial");
  if (initial) {
    try {
      render(JSON.parse(initial.textContent));
    } catch (error) {
      /* the server-rendered figures stay */
    }
  }
  if (!state.finished) {
    setConnection("connecting", "Connecting\u2026");
    connect();
  }
})();
