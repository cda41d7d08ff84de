// The web chat page (bot/handlers/templates/chat.html). A file, not inline: the page's
// Content-Security-Policy allows scripts from this origin only, and no inline code.
(function () {
  "use strict";

  var API = "/chat/api/messages";
  var HISTORY = "/chat/api/history";
  var UPDATES = "/chat/api/updates";
  var RETRIES = 2;              // extra attempts after a failed request
  var BACKOFF_MS = [1000, 3000];
  var TIMEOUT_MS = 20000;       // one attempt; a retry reuses the message id, so it never steps twice
  var POLL_MS = 4000;
  // Replies that ask where it happened: the page offers to send the browser's location.
  var PLACE_KEYS = ["report.ask_place", "report.place_invalid"];
  var GEO_OPTIONS = { enableHighAccuracy: true, timeout: 20000, maximumAge: 60000 };

  var messages = document.getElementById("messages");
  var welcome = document.getElementById("welcome");
  var options = document.getElementById("options");
  var statusLine = document.getElementById("status");
  var locateBar = document.getElementById("locate-bar");
  var locateButton = document.getElementById("locate");
  var form = document.getElementById("composer");
  var input = document.getElementById("input");
  var sendButton = document.getElementById("send");

  // The page's words (knowledge/replies.yml, web:), as JSON in an attribute.
  var UI = {};
  try {
    UI = JSON.parse(document.body.getAttribute("data-ui") || "{}") || {};
  } catch (e) {
    UI = {};
  }

  var busy = false;
  var ready = false;            // the earlier conversation is on screen
  var typing = null;
  var failed = null;            // {id, text, location, bubble} of the last message that could not be sent
  var askedWhere = false;       // the last reply asks for the place
  var locating = false;         // waiting for the browser's position

  function newMessageId() {
    var bytes = new Uint8Array(16);
    if (window.crypto && window.crypto.getRandomValues) {
      window.crypto.getRandomValues(bytes);
    } else {
      for (var i = 0; i < bytes.length; i++) { bytes[i] = Math.floor(Math.random() * 256); }
    }
    return Array.prototype.map.call(bytes, function (b) {
      return ("0" + b.toString(16)).slice(-2);
    }).join("");
  }

  function scrollDown() {
    messages.scrollTop = messages.scrollHeight;
  }

  // Everything a resident or the bot wrote is set with textContent, never parsed as HTML.
  function addBubble(who, text) {
    var bubble = document.createElement("div");
    bubble.className = "bubble " + who;
    bubble.textContent = text;
    messages.insertBefore(bubble, typing);
    scrollDown();
    return bubble;
  }

  function safeUrl(url) {
    try {
      var parsed = new URL(url, window.location.href);
      return parsed.protocol === "https:" || parsed.protocol === "http:" ? parsed.href : null;
    } catch (e) {
      return null;
    }
  }

  function addBotReply(reply) {
    var bubble = addBubble("bot", reply.text || "");
    var links = Array.isArray(reply.links) ? reply.links : [];
    if (links.length) {
      var list = document.createElement("ul");
      list.className = "links";
      links.forEach(function (link) {
        var item = document.createElement("li");
        var href = safeUrl(link.url);
        if (href) {
          var anchor = document.createElement("a");
          anchor.href = href;
          anchor.target = "_blank";
          anchor.rel = "noopener";
          anchor.textContent = link.title || link.url;
          item.appendChild(anchor);
        } else {
          item.textContent = link.title || "";
        }
        list.appendChild(item);
      });
      bubble.appendChild(list);
      scrollDown();
    }
  }

  function showOptions(labels) {
    options.replaceChildren();
    labels.forEach(function (label) {
      var button = document.createElement("button");
      button.type = "button";
      button.textContent = label;
      button.disabled = busy;
      options.appendChild(button);
    });
  }

  // The location button is offered while the last reply asks where it happened.
  function offerLocation(on) {
    askedWhere = on;
    locateBar.hidden = !on;
    locateButton.disabled = busy || locating;
  }

  // The options and the location button follow the last reply only (earlier ones are history).
  function followLast(replies) {
    var last = replies.length ? replies[replies.length - 1] : null;
    showOptions(last && Array.isArray(last.options) ? last.options : []);
    offerLocation(!!last && PLACE_KEYS.indexOf(last.key) >= 0);
  }

  function showReplies(replies) {
    replies.forEach(addBotReply);
    followLast(replies);
  }

  function setStatus(text, isError) {
    statusLine.replaceChildren();
    statusLine.className = isError ? "error" : "";
    statusLine.textContent = text || "";
  }

  function setBusy(value) {
    busy = value;
    sendButton.disabled = value;
    locateButton.disabled = value || locating;
    messages.setAttribute("aria-busy", value ? "true" : "false");
    Array.prototype.forEach.call(options.querySelectorAll("button"), function (b) { b.disabled = value; });
    if (value && !typing) {
      typing = document.createElement("div");
      typing.className = "typing";
      typing.textContent = UI.typing || "";
      messages.appendChild(typing);
      scrollDown();
    } else if (!value && typing) {
      typing.remove();
      typing = null;
    }
  }

  function sleep(ms) {
    return new Promise(function (resolve) { setTimeout(resolve, ms); });
  }

  // One attempt. Resolves to the replies; rejects with {retry: bool}.
  async function post(id, text, location) {
    var controller = new AbortController();
    var timer = setTimeout(function () { controller.abort(); }, TIMEOUT_MS);
    var body = { message_id: id, text: text };
    if (location) { body.location = location; }
    var response;
    try {
      response = await fetch(API, {
        method: "POST",
        credentials: "same-origin",
        cache: "no-store",
        headers: { "Content-Type": "application/json", "Accept": "application/json" },
        body: JSON.stringify(body),
        signal: controller.signal
      });
    } catch (e) {
      throw { retry: true };
    } finally {
      clearTimeout(timer);
    }
    if (response.status >= 500 || response.status === 429) { throw { retry: true }; }
    if (!response.ok) { throw { retry: false }; }
    var data;
    try {
      data = await response.json();
    } catch (e) {
      throw { retry: true };
    }
    return Array.isArray(data && data.replies) ? data.replies : [];
  }

  async function deliver(id, text, location, bubble) {
    setBusy(true);
    setStatus("", false);
    try {
      for (var attempt = 0; ; attempt++) {
        try {
          var replies = await post(id, text, location);
          setStatus("", false);
          bubble.classList.remove("failed");
          failed = null;
          showReplies(replies);
          return;
        } catch (error) {
          if (error && error.retry && attempt < RETRIES) {
            setStatus(UI.retrying, false);
            await sleep(BACKOFF_MS[attempt] + Math.floor(Math.random() * 300));
            continue;
          }
          bubble.classList.add("failed");
          failed = { id: id, text: text, location: location, bubble: bubble };
          setStatus(UI.failed, true);
          var again = document.createElement("button");
          again.type = "button";
          again.id = "retry";
          again.textContent = UI.resend || "";
          statusLine.appendChild(again);
          return;
        }
      }
    } finally {
      setBusy(false);
    }
  }

  var historyShown;             // a promise: the earlier conversation is on screen

  function send(text) {
    if (!ready) {                // typed before the earlier conversation came: after it
      historyShown.then(function () { send(text); });
      return;
    }
    if (busy) { return; }
    text = (text || "").trim();
    if (!text) { return; }
    var bubble = addBubble("me", text);
    failed = null;
    deliver(newMessageId(), text, null, bubble);
  }

  function sendLocation(position) {
    var location = { latitude: position.coords.latitude, longitude: position.coords.longitude };
    var bubble = addBubble("me", UI.location_sent || "");
    failed = null;
    deliver(newMessageId(), "", location, bubble);
  }

  form.addEventListener("submit", function (event) {
    event.preventDefault();
    if (busy || !input.value.trim()) { return; }
    var text = input.value;
    input.value = "";
    send(text);
  });

  input.addEventListener("keydown", function (event) {
    if (event.key !== "Enter" || event.shiftKey) { return; }
    event.preventDefault();
    // Enter that confirms a pinyin candidate belongs to the input method, not to us.
    if (event.isComposing || event.keyCode === 229) { return; }
    form.requestSubmit ? form.requestSubmit() : form.dispatchEvent(new Event("submit", { cancelable: true }));
  });

  options.addEventListener("click", function (event) {
    var button = event.target.closest("button");
    if (button && !button.disabled) { send(button.textContent); }
  });

  // The browser's own permission prompt is the resident's consent; the line above says what
  // the location is for. Refused or unavailable: a polite line asks to type the place instead.
  locateButton.addEventListener("click", function () {
    if (busy || locating || !askedWhere) { return; }
    if (!navigator.geolocation) {
      setStatus(UI.location_failed, false);
      return;
    }
    setStatus(UI.location_note, false);
    locating = true;
    locateButton.disabled = true;
    navigator.geolocation.getCurrentPosition(function (position) {
      locating = false;
      if (!askedWhere || busy) {   // the resident typed the place meanwhile
        locateButton.disabled = busy;
        return;
      }
      sendLocation(position);
    }, function () {
      locating = false;
      locateButton.disabled = busy;
      setStatus(UI.location_failed, false);
    }, GEO_OPTIONS);
  });

  // Resending a failed message keeps its id: if the server did get it, it answers from its record.
  statusLine.addEventListener("click", function (event) {
    if (event.target.id === "retry" && failed && !busy) {
      deliver(failed.id, failed.text, failed.location, failed.bubble);
    }
  });

  // The on-screen keyboard shrinks the viewport: keep the latest message in sight.
  window.addEventListener("resize", scrollDown);

  // The conversation so far (after a reload, or on another visit): shown as it was, with the
  // options and the location button of its last reply; with none, the welcome and the menu.
  async function showHistory() {
    var entries = [];
    try {
      var response = await fetch(HISTORY, {
        credentials: "same-origin", cache: "no-store", headers: { "Accept": "application/json" }
      });
      if (response.ok) {
        var body = await response.json();
        if (Array.isArray(body && body.messages)) { entries = body.messages; }
      }
    } catch (error) { /* offline for a moment: start afresh */ }
    if (entries.length) {
      welcome.remove();
      var lastReplies = [];
      entries.forEach(function (entry) {
        var text = typeof entry.text === "string" ? entry.text.trim() : "";
        addBubble("me", text || UI.location_sent || "");  // no text on the web chat: a location
        lastReplies = Array.isArray(entry.replies) ? entry.replies : [];
        lastReplies.forEach(addBotReply);
      });
      followLast(lastReplies);
    } else {
      welcome.hidden = false;
    }
    options.hidden = false;
    ready = true;
    scrollDown();
  }

  // Messages the bot sends on its own (case filed, case moved, staff wrote): polled.
  async function poll() {
    if (!busy) {
      try {
        var response = await fetch(UPDATES, { credentials: "same-origin", cache: "no-store" });
        if (response.ok) {
          var body = await response.json();
          (body.replies || []).forEach(addBotReply);
        }
      } catch (error) { /* offline for a moment: the next poll catches up */ }
    }
    setTimeout(poll, document.hidden ? 15000 : POLL_MS);
  }

  historyShown = showHistory();
  historyShown.then(function () { setTimeout(poll, POLL_MS); });
})();
