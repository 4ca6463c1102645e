// Zero-OS Hub pages: account selection, copy buttons, the search filter, the merge form's extra
// rows, and job progress (upload and docker pages, from /listen/<jobid>).
//
// Every value that comes from the hub (names, messages, sizes) is inserted with textContent,
// never as HTML: names are user-controlled (hub-api 13, D2).
(function () {
  "use strict";

  function byId(id) {
    return document.getElementById(id);
  }

  // "/a/b" with every segment percent-encoded.
  function path(segments) {
    return "/" + segments.map(encodeURIComponent).join("/");
  }

  function link(href, text) {
    var a = document.createElement("a");
    a.href = href;
    a.textContent = text;
    return a;
  }

  function cell(row, content) {
    var td = document.createElement("td");
    if (typeof content === "string") {
      td.textContent = content;
    } else {
      td.appendChild(content);
    }
    row.appendChild(td);
  }

  // YYYY-MM-DD HH:MM (UTC) of Unix seconds, as the server-rendered pages show dates.
  function date(seconds) {
    var time = new Date(seconds * 1000);
    return isNaN(time.getTime()) ? "" : time.toISOString().slice(0, 16).replace("T", " ");
  }

  document.addEventListener("click", function (event) {
    var account = event.target.closest("[data-active-user]");
    if (account) {
      event.preventDefault();
      document.cookie = "active-user=" + encodeURIComponent(account.getAttribute("data-active-user")) +
        "; path=/; SameSite=Lax";
      window.location.reload();
      return;
    }
    var copy = event.target.closest("[data-copy]");
    if (copy && navigator.clipboard) {
      event.preventDefault();
      navigator.clipboard.writeText(byId(copy.getAttribute("data-copy")).textContent);
      return;
    }
    // Merge form: "Add one more archive" repeats the last "Merge with" row, unselected.
    var add = event.target.closest("[data-add-row]");
    if (add) {
      event.preventDefault();
      var rows = document.querySelectorAll("." + add.getAttribute("data-add-row"));
      var last = rows[rows.length - 1];
      if (last) {
        var row = last.cloneNode(true);
        row.querySelectorAll("select").forEach(function (select) { select.selectedIndex = 0; });
        last.parentNode.insertBefore(row, last.nextSibling);
      }
    }
  });

  // ---------------------------------------------------------------------------------------------
  // Search: /api/fileslist is loaded once; the filter runs in the browser.

  function setupSearch(input) {
    var min = parseInt(input.getAttribute("data-min"), 10) || 3;
    var max = parseInt(input.getAttribute("data-max"), 10) || 1000;
    var table = byId("search-results");
    var body = table.tBodies[0];
    var status = byId("search-status");
    var entries = null;

    function render() {
      var needle = input.value.trim().toLowerCase();
      body.textContent = "";
      if (needle.length < min) {
        table.hidden = true;
        status.textContent = needle ? "Type at least " + min + " characters." : "";
        return;
      }
      if (!entries) {
        status.textContent = "Loading the list of flists...";
        return;
      }
      var found = entries.filter(function (entry) {
        return entry.repo.toLowerCase().indexOf(needle) >= 0 ||
          entry.name.toLowerCase().indexOf(needle) >= 0 ||
          entry.size.toLowerCase().indexOf(needle) >= 0;
      });
      found.slice(0, max).forEach(function (entry) {
        var row = document.createElement("tr");
        cell(row, link(path([entry.repo]), entry.repo));
        cell(row, link(path([entry.repo, entry.name + ".md"]), entry.name));
        cell(row, entry.size);
        cell(row, date(entry.updated));
        body.appendChild(row);
      });
      table.hidden = found.length === 0;
      status.textContent = found.length === 0 ? "No flist matches." :
        found.length > max ? "The first " + max + " of " + found.length + " matches." :
        found.length + (found.length === 1 ? " match." : " matches.");
    }

    input.addEventListener("input", render);
    fetch("/api/fileslist")
      .then(function (response) {
        if (!response.ok) {
          throw new Error("HTTP " + response.status);
        }
        return response.json();
      })
      .then(function (listing) {
        entries = [];
        Object.keys(listing).forEach(function (repo) {
          (listing[repo] || []).forEach(function (entry) {
            // Tags are directories of links, not flists: their entries show on the tag page.
            if (entry && entry.type !== "tag") {
              entries.push({
                repo: repo,
                name: String(entry.name),
                size: String(entry.size || ""),
                updated: entry.updated
              });
            }
          });
        });
        render();
      })
      .catch(function () {
        status.textContent = "The list of flists could not be loaded.";
      });
  }

  // ---------------------------------------------------------------------------------------------
  // Job progress: /listen/<jobid> replays the job from its start and ends with `info` or `error`.

  function Progress(repo) {
    this.bar = byId("progress");
    this.status = byId("status");
    this.result = byId("result");
    this.repo = repo;
  }

  Progress.prototype.show = function (percent, text) {
    this.bar.value = Math.max(0, Math.min(100, percent));
    this.status.textContent = text;
  };

  Progress.prototype.fail = function (message) {
    this.result.className = "alert alert-danger";
    this.result.textContent = message;
    this.status.textContent = "Failed";
  };

  // The summary of a finished upload or conversion (hub-api 9: `info.filename` for uploads,
  // `info.file` for docker; statistics in `info.flist`).
  Progress.prototype.summary = function (info) {
    var stats = info.flist || {};
    var name = String(info.filename || info.file || "");
    var table = document.createElement("table");
    table.id = "summary";
    var rows = [
      ["Filename", name ? link(path([this.repo, name + ".md"]), name) : ""],
      ["Files", String(stats.regular)],
      ["Directories", String(stats.directory)],
      ["Symlinks", String(stats.symlink)],
      ["Specials", String(stats.special)],
      ["Size", (Number(stats.fullsize) / 1048576).toFixed(2) + " MB (apparent)"]
    ];
    rows.forEach(function (pair) {
      var row = document.createElement("tr");
      var th = document.createElement("th");
      th.textContent = pair[0];
      row.appendChild(th);
      cell(row, pair[1]);
      table.appendChild(row);
    });
    this.result.className = "";
    this.result.textContent = "";
    this.result.appendChild(table);
  };

  // Follow job `jobid`; `scale(message, progress)` maps the job's progress onto the page's bar.
  Progress.prototype.follow = function (jobid, scale) {
    var self = this;
    var finished = false;
    var events = new EventSource("/listen/" + encodeURIComponent(jobid));
    events.onmessage = function (message) {
      var data;
      try {
        data = JSON.parse(message.data);
      } catch (e) {
        return;
      }
      if (data.status === "update") {
        self.show(scale(String(data.message || ""), Number(data.progress) || 0), String(data.message || ""));
      } else if (data.status === "info") {
        finished = true;
        events.close();
        self.show(100, "Done");
        self.summary(data.info || {});
      } else if (data.status === "error") {
        finished = true;
        events.close();
        self.fail(String(data.message || "the job failed"));
      }
    };
    events.onerror = function () {
      // The browser reconnects by itself (the stream replays the job); it gives up only when
      // the hub no longer knows the job.
      if (!finished && events.readyState === EventSource.CLOSED) {
        self.fail("The job's progress is no longer available.");
      }
    };
  };

  // Upload page: the archive goes up with XHR (bar 2-52 %), then "Extracting archive..." at
  // 55 % and the job's progress mapped onto 55-100 %.
  document.addEventListener("submit", function (event) {
    var form = event.target.closest("form[data-upload]");
    if (!form || !window.XMLHttpRequest || !window.EventSource) {
      return;
    }
    event.preventDefault();
    var progress = new Progress(form.getAttribute("data-repo") || "");
    progress.result.className = "";
    progress.result.textContent = "";
    var xhr = new XMLHttpRequest();
    xhr.open("POST", form.action);
    xhr.upload.onprogress = function (e) {
      if (e.lengthComputable) {
        progress.show(2 + Math.round(50 * e.loaded / e.total), "Uploading...");
      }
    };
    xhr.onerror = function () { progress.fail("The upload failed."); };
    xhr.onload = function () {
      var reply;
      try {
        reply = JSON.parse(xhr.responseText);
      } catch (e) {
        return progress.fail("Unexpected answer from the hub (HTTP " + xhr.status + ").");
      }
      if (reply.status !== "success") {
        return progress.fail(String(reply.message || "upload refused"));
      }
      progress.show(55, "Extracting archive...");
      progress.follow(reply.jobid, function (message, percent) {
        return 55 + Math.round(45 * percent / 100);
      });
    };
    progress.show(2, "Uploading...");
    xhr.send(new FormData(form));
  });

  // Docker page: the job is queued; "Building: ..." progress is rescaled to 56-95 % (hub-api 9),
  // the other steps carry their own percentage.
  function setupDocker(root) {
    var progress = new Progress(root.getAttribute("data-repo") || "");
    progress.show(0, "Waiting for a worker...");
    progress.follow(root.getAttribute("data-job"), function (message, percent) {
      return message.indexOf("Building:") === 0 ? 56 + Math.round(39 * percent / 100) : percent;
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    var search = byId("search");
    if (search) {
      setupSearch(search);
    }
    var job = document.querySelector("[data-job][data-kind=docker]");
    if (job && window.EventSource) {
      setupDocker(job);
    }
  });
})();
