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
