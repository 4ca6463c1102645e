// Zero-OS Hub pages: account selection and copy buttons. Everything else works without script.
document.addEventListener("click", function (event) {
  var account = event.target.closest("[data-active-user]");
  if (account) {
    event.preventDefault();
    document.cookie = "active-user=" + encodeURIComponent(account.getAttribute("data-active-user")) + "; path=/; SameSite=Lax";
    window.location.reload();
    return;
  }
  var copy = event.target.closest("[data-copy]");
  if (copy && navigator.clipboard) {
    event.preventDefault();
    navigator.clipboard.writeText(document.getElementById(copy.getAttribute("data-copy")).textContent);
  }
});

// Upload page: send the archive with XHR (progress 2-52 %), then follow the job's progress
// stream (/listen/<jobid>, mapped to 55-100 %) and show the summary or the error.
document.addEventListener("submit", function (event) {
  var form = event.target.closest("form[data-upload]");
  if (!form || !window.XMLHttpRequest || !window.EventSource) {
    return;
  }
  event.preventDefault();
  var bar = document.getElementById("progress");
  var status = document.getElementById("status");
  var result = document.getElementById("result");
  function show(percent, text) {
    bar.value = percent;
    status.textContent = text;
  }
  function fail(message) {
    result.className = "alert alert-danger";
    result.textContent = message;
  }
  var xhr = new XMLHttpRequest();
  xhr.open("POST", form.action);
  xhr.upload.onprogress = function (e) {
    if (e.lengthComputable) {
      show(2 + Math.round(50 * e.loaded / e.total), "Uploading...");
    }
  };
  xhr.onerror = function () { fail("upload failed"); };
  xhr.onload = function () {
    var reply;
    try { reply = JSON.parse(xhr.responseText); } catch (e) { return fail("unexpected answer"); }
    if (reply.status !== "success") {
      return fail(reply.message || "upload refused");
    }
    show(55, "Extracting archive...");
    var events = new EventSource("/listen/" + encodeURIComponent(reply.jobid));
    events.onmessage = function (message) {
      var data = JSON.parse(message.data);
      if (data.status === "update") {
        show(55 + Math.round(45 * data.progress / 100), data.message);
      } else if (data.status === "info") {
        events.close();
        show(100, "Done");
        var info = data.info || {};
        var stats = info.flist || {};
        result.className = "alert alert-info";
        result.textContent = "Filename: " + (info.filename || info.file) + " - Files: " + stats.regular +
          ", Directories: " + stats.directory + ", Symlinks: " + stats.symlink + ", Specials: " +
          stats.special + ", Size: " + (stats.fullsize / 1048576).toFixed(2) + " MB (apparent)";
      } else if (data.status === "error") {
        events.close();
        fail(data.message);
      }
    };
    events.onerror = function () { events.close(); };
  };
  show(2, "Uploading...");
  xhr.send(new FormData(form));
});
