// The demo meeting page (gateway/demo/meeting_page.py): polls the stand-in's state
// every second and sends the buttons. Demo only, not for production.
"use strict";
(function () {
  const main = document.getElementById("meeting");
  const token = encodeURIComponent(main.dataset.token);
  const lang = main.dataset.lang;
  const stateUrl = "/html5client/state?sessionToken=" + token + "&lang=" + lang;
  const actionUrl = "/html5client/action?sessionToken=" + token + "&lang=" + lang;
  const refusal = document.getElementById("refusal");
  let current = null;
  let refusedIn = null;  // the state a refusal was about; it goes when that state changes
  let timer = null;

  function situation(s) {
    return [s.recording, s.me.camera_locked, s.me.mic_locked].join();
  }

  function say(text) {
    refusal.hidden = !text;
    refusal.textContent = text || "";
  }

  function cell(row, text) {
    const td = document.createElement("td");
    td.textContent = text;
    row.appendChild(td);
    return td;
  }

  // A chat line as text, its http(s) addresses as links (the guard's objection link):
  // built from DOM nodes, the message never parsed as HTML; other schemes stay text.
  const ADDRESS = /https?:\/\/[^\s<>"']+/g;

  function link(text) {
    let url;
    try {
      url = new URL(text);
    } catch (e) {
      return null;
    }
    if (url.protocol !== "http:" && url.protocol !== "https:") return null;
    const a = document.createElement("a");
    a.href = url.href;
    a.textContent = text;
    a.target = "_blank";
    a.rel = "noopener noreferrer";
    return a;
  }

  function chatText(parent, text) {
    let last = 0;
    for (const found of text.matchAll(ADDRESS)) {
      // A sentence's full stop or a closing bracket after an address is not part of it.
      const address = found[0].replace(/[.,;:!?)\]]+$/, "");
      const a = link(address);
      if (!a) continue;
      parent.appendChild(document.createTextNode(text.slice(last, found.index)));
      parent.appendChild(a);
      last = found.index + address.length;
    }
    parent.appendChild(document.createTextNode(text.slice(last)));
  }

  function button(id, label, action, locked, reason) {
    const el = document.getElementById(id);
    if (!el) return;
    el.textContent = label;
    el.dataset.action = action;
    el.dataset.locked = locked ? "yes" : "no";
    el.title = reason || "";
  }

  function render(s) {
    current = s;
    if (refusedIn !== null && refusedIn !== situation(s)) {
      refusedIn = null;
      say("");
    }
    const rec = document.getElementById("recording-state");
    rec.textContent = s.recording_text;
    rec.dataset.recording = s.recording ? "yes" : "no";
    rec.classList.toggle("recording", s.recording);

    const body = document.querySelector("#participants tbody");
    body.replaceChildren();
    for (const u of s.users) {
      const tr = document.createElement("tr");
      tr.dataset.user = u.name;
      tr.dataset.role = u.role;
      tr.dataset.camera = u.camera;
      tr.dataset.mic = u.mic;
      tr.dataset.locked = u.locked ? "yes" : "no";
      if (u.me) tr.classList.add("me");
      cell(tr, u.name);
      cell(tr, u.role_text);
      cell(tr, u.camera_text).className = "camera";
      cell(tr, u.mic_text).className = "mic";
      cell(tr, u.locked_text).className = "locked";
      body.appendChild(tr);
    }

    const locks = document.getElementById("locks");
    locks.replaceChildren();
    for (const l of s.locks) {
      const li = document.createElement("li");
      li.dataset.lock = l.name;
      li.dataset.on = l.on ? "yes" : "no";
      li.textContent = l.text;
      locks.appendChild(li);
    }

    const chat = document.getElementById("chat");
    chat.replaceChildren();
    if (!s.chat.length) {
      const li = document.createElement("li");
      li.className = "empty";
      li.textContent = s.chat_empty;
      chat.appendChild(li);
    }
    for (const c of s.chat) {
      const li = document.createElement("li");
      const who = document.createElement("strong");
      who.textContent = c.sender + ": ";
      li.appendChild(who);
      chatText(li, c.text);
      chat.appendChild(li);
    }

    button("camera", s.me.camera_button, s.me.camera_action, s.me.camera_locked,
           s.me.camera_reason);
    button("mic", s.me.mic_button, s.me.mic_action, s.me.mic_locked, s.me.mic_reason);
    button("record", s.me.record_button, s.me.record_action, false, "");
    const objection = document.getElementById("objection");
    objection.hidden = !s.objection_url;
    if (s.objection_url) document.getElementById("objection-link").href = s.objection_url;
    main.dataset.ready = "yes";
  }

  function sessionLost() {
    // This tab's join is no longer valid here: say so once, stop asking every second.
    clearInterval(timer);
    refusedIn = null;
    say(main.dataset.sessionLost);
    main.dataset.session = "lost";
    for (const id of ["camera", "mic", "record"]) {
      const el = document.getElementById(id);
      if (el) el.disabled = true;
    }
  }

  async function poll() {
    try {
      const r = await fetch(stateUrl, {cache: "no-store", credentials: "same-origin"});
      if (r.status === 401) sessionLost();
      else if (r.ok) render(await r.json());
    } catch (e) {
      // the stand-in is restarting: try again at the next tick
    }
  }

  async function send(action) {
    let answer;
    try {
      const r = await fetch(actionUrl, {
        method: "POST", credentials: "same-origin",
        headers: {"Content-Type": "application/json", "X-Demo-Meeting": "1"},
        body: JSON.stringify({action: action}),
      });
      if (r.status === 401) {
        sessionLost();
        return;
      }
      answer = r.ok ? await r.json() : {ok: false, text: main.dataset.unreachable};
    } catch (e) {
      answer = {ok: false, text: main.dataset.unreachable};
    }
    refusedIn = null;
    say(answer.ok ? "" : answer.text);
    await poll();
    if (!answer.ok && current) refusedIn = situation(current);
  }

  for (const id of ["camera", "mic", "record"]) {
    const el = document.getElementById(id);
    if (el) el.addEventListener("click", () => send(el.dataset.action));
  }
  poll();
  timer = setInterval(poll, 1000);
})();
