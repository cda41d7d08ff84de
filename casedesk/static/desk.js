// The desk's pages refresh themselves: plain polling of small JSON endpoints every 3 seconds.
// Everything from the server is written with textContent (never as HTML).
(function () {
  "use strict";
  var PERIOD_MS = 3000;

  function poll(url, handle) {
    function tick() {
      fetch(url(), { headers: { Accept: "application/json" }, credentials: "same-origin", cache: "no-store" })
        .then(function (response) {
          if (response.status === 401) { window.location.reload(); return null; }
          return response.ok ? response.json() : null;
        })
        .then(function (data) { if (data) { handle(data); } })
        .catch(function () { /* offline for a moment: try again at the next tick */ })
        .then(function () { window.setTimeout(tick, PERIOD_MS); });
    }
    window.setTimeout(tick, PERIOD_MS);
  }

  function el(tag, className, text) {
    var node = document.createElement(tag);
    if (className) { node.className = className; }
    if (text !== undefined && text !== null) { node.textContent = text; }
    return node;
  }

  function setBadge(count) {
    var badge = document.getElementById("waiting-badge");
    if (!badge) { return; }
    badge.textContent = String(count);
    badge.classList.toggle("on", count > 0);
  }

  // The handoff inbox.
  var inbox = document.getElementById("inbox-list");
  if (inbox) {
    poll(function () { return inbox.getAttribute("data-poll"); }, function (data) {
      var items = data.items || [];
      var fragment = document.createDocumentFragment();
      items.forEach(function (item) {
        var li = el("li");
        var link = el("a", item.urgent ? "item urgent-item" : "item");
        link.href = item.url;
        if (item.urgent) { link.appendChild(el("span", "tag", "紧急")); }
        link.appendChild(el("span", "status", item.status_label + (item.taken_by ? "（" + item.taken_by + "）" : "")));
        link.appendChild(el("span", "meta", item.channel + " · " + item.resident_ref));
        var cases = item.cases || {};
        link.appendChild(el("span", "cases", (cases.label || "") + (cases.phone ? " · " + cases.phone : "")));
        link.appendChild(el("span", "text", item.text));
        link.appendChild(el("span", "age", "已等 " + item.waiting));
        li.appendChild(link);
        fragment.appendChild(li);
      });
      inbox.replaceChildren(fragment);
      var empty = document.getElementById("inbox-empty");
      if (empty) { empty.hidden = items.length > 0; }
      setBadge(data.waiting || 0);
    });
  }

  // One handoff: new messages are appended; a change of status reloads the page (for its
  // buttons) unless a reply is being typed.
  var conversation = document.getElementById("conversation");
  if (conversation) {
    var id = conversation.getAttribute("data-id");
    poll(function () {
      return "/inbox/" + encodeURIComponent(id) + "/messages.json?after=" +
        encodeURIComponent(conversation.getAttribute("data-after"));
    }, function (data) {
      (data.messages || []).forEach(function (m) {
        var li = el("li", "msg " + m.sender + " relayed");
        li.appendChild(el("span", "who", m.sender_label + (m.staff ? " " + m.staff : "")));
        li.appendChild(el("span", "when", m.at));
        li.appendChild(el("div", "text", m.text));
        conversation.appendChild(li);
        conversation.setAttribute("data-after", String(m.id));
      });
      var status = document.getElementById("handoff-status");
      if (status) { status.textContent = data.status_label + (data.taken_by ? "（" + data.taken_by + "）" : ""); }
      if (data.status !== conversation.getAttribute("data-status")) {
        var reply = document.getElementById("reply-text");
        if (!reply || reply.value.trim() === "") { window.location.reload(); }
      }
    });
  }

  // The queue: reload when it changes (it has no forms to lose).
  var queue = document.getElementById("queue");
  if (queue) {
    poll(function () { return queue.getAttribute("data-poll"); }, function (data) {
      if (data.stamp !== queue.getAttribute("data-stamp")) { window.location.reload(); }
    });
  }
})();
