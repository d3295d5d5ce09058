/* Pledge cookie banner: no dependencies. Embed with
 *   <script src="https://pledge.example/consent.js" data-lang="pl" data-subject-token="..."></script>
 * Scripts tagged <script type="text/plain" data-category="analytics"> run only once their
 * category is allowed. Essential is always on; the rest are opt-in. Global Privacy Control
 * (navigator.globalPrivacyControl or a Sec-GPC: 1 request) switches sale, sharing and marketing
 * off without asking, and the banner says it was honoured. Each category lists its cookies
 * (name, provider, duration, purpose) from the policy. A visitor without a token has their
 * choice kept by the server under a random receipt id, also where the banner is embedded on
 * the platform's own site (pledge.yaml banner_origins). A new notice version asks again.
 */
(function () {
  "use strict";
  var CONFIG = /*__PLEDGE_CONFIG__*/null;
  if (!CONFIG || window.PledgeConsent) { return; }
  var COOKIE = "pledge_consent";
  var MAX_AGE = 180 * 24 * 3600;
  var script = document.currentScript;
  var origin = script && script.src ? new URL(script.src, location.href).origin : location.origin;
  var lang = pick((script && script.getAttribute("data-lang")) || document.documentElement.lang || CONFIG.language);
  var T = CONFIG.texts[lang] || CONFIG.texts.en;
  var token = script ? script.getAttribute("data-subject-token") : null;
  var gpc = navigator.globalPrivacyControl === true || CONFIG.gpc === true;
  var root = null;
  var opener = null;

  function pick(value) {
    var l = String(value || "en").slice(0, 2).toLowerCase();
    return CONFIG.texts[l] ? l : "en";
  }

  function read() {
    var parts = document.cookie ? document.cookie.split("; ") : [];
    for (var i = 0; i < parts.length; i++) {
      var eq = parts[i].indexOf("=");
      if (parts[i].slice(0, eq) === COOKIE) {
        try { return JSON.parse(decodeURIComponent(parts[i].slice(eq + 1))); } catch (e) { return null; }
      }
    }
    return null;
  }

  function write(state) {
    document.cookie = COOKIE + "=" + encodeURIComponent(JSON.stringify(state)) +
      "; Max-Age=" + MAX_AGE + "; Path=/; SameSite=Lax" + (location.protocol === "https:" ? "; Secure" : "");
  }

  function blocked(cat) { return gpc && (cat.gpc_off || cat.sells_or_shares); }

  function words(cat) { return (cat.words && (cat.words[lang] || cat.words.en)) || {}; }

  function allowed(state, key) {
    if (key === "essential") { return true; }
    return !!(state && state.c && state.c[key]);
  }

  function activate(state) {
    var tagged = document.querySelectorAll('script[type="text/plain"][data-category]');
    for (var i = 0; i < tagged.length; i++) {
      var old = tagged[i];
      if (!allowed(state, old.getAttribute("data-category"))) { continue; }
      var run = document.createElement("script");
      for (var a = 0; a < old.attributes.length; a++) {
        var attr = old.attributes[a];
        if (attr.name !== "type") { run.setAttribute(attr.name, attr.value); }
      }
      run.text = old.text;
      old.parentNode.replaceChild(run, old);
    }
  }

  function send(state) {
    if (!token) { receipt(state); return; }
    var body = JSON.stringify({ token: token, choices: state.c, notice_version: state.v, gpc: gpc,
                                method: "cookie_banner", channel: "web" });
    try {
      fetch(origin + CONFIG.endpoint, { method: "POST", body: body, credentials: "omit",
                                        headers: { "Content-Type": "text/plain;charset=UTF-8" } });
    } catch (e) { /* the cookie still holds the choice */ }
  }

  /* A visitor without a token: the server keeps the choice under a random receipt id. On a
     platform's own site that embeds the banner (listed in Pledge's banner_origins) the answer
     comes back through CORS; a site not listed is refused and the cookie alone holds the choice. */
  function receipt(state) {
    if (!CONFIG.receipt_endpoint) { return; }
    var body = JSON.stringify({ receipt: state.r || null, choices: state.c, notice_version: state.v, gpc: gpc });
    try {
      fetch(origin + CONFIG.receipt_endpoint, { method: "POST", body: body, credentials: "same-origin",
                                       headers: { "Content-Type": "text/plain;charset=UTF-8" } })
        .then(function (res) { return res.ok ? res.json() : null; })
        .then(function (out) {
          if (out && out.receipt) {
            state.r = out.receipt; write(state);
            document.dispatchEvent(new CustomEvent("pledge:receipt", { detail: out }));
          }
        }).catch(function () { /* the cookie still holds the choice */ });
    } catch (e) { /* idem */ }
  }

  function decide(choices) {
    var c = {};
    CONFIG.categories.forEach(function (cat) {
      if (cat.locked) { return; }
      c[cat.key] = !!choices[cat.key] && !blocked(cat);
    });
    var before = read();
    var state = { v: CONFIG.version, c: c, g: gpc, t: new Date().toISOString() };
    if (before && before.r) { state.r = before.r; }
    write(state);
    close();
    activate(state);
    send(state);
    document.dispatchEvent(new CustomEvent("pledge:consent", { detail: state }));
    return state;
  }

  function all(value) {
    var out = {};
    CONFIG.categories.forEach(function (cat) { out[cat.key] = value; });
    return out;
  }

  function el(tag, attrs, text) {
    var node = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (k) { node.setAttribute(k, attrs[k]); });
    if (text) { node.textContent = text; }
    return node;
  }

  function style() {
    if (document.getElementById("pledge-cb-style")) { return; }
    var css = ".pledge-cb{position:fixed;z-index:2147483000;left:1rem;right:1rem;bottom:1rem;max-width:36rem;" +
      "margin:0 auto;background:#fff;color:#1b1f24;border:2px solid #1b1f24;border-radius:10px;" +
      "padding:1rem 1.25rem;box-shadow:0 8px 30px rgba(0,0,0,.25);font:15px/1.45 system-ui,sans-serif}" +
      ".pledge-cb h2{margin:0 0 .4rem;font-size:1.15rem}.pledge-cb p{margin:.2rem 0 .6rem}" +
      ".pledge-cb fieldset{border:0;padding:0;margin:0 0 .6rem}.pledge-cb legend{font-weight:600;margin-bottom:.3rem}" +
      ".pledge-cb .row{display:flex;gap:.6rem;align-items:flex-start;padding:.35rem 0;border-top:1px solid #d0d7de}" +
      ".pledge-cb .row input{width:1.2rem;height:1.2rem;margin-top:.15rem;flex:none}" +
      ".pledge-cb .row label{font-weight:600;display:block;margin:0}.pledge-cb small{display:block;color:#57606a}" +
      ".pledge-cb .btns{display:flex;flex-wrap:wrap;gap:.5rem;justify-content:flex-end}" +
      ".pledge-cb button{font:inherit;border-radius:6px;padding:.5rem .9rem;cursor:pointer;border:2px solid #0b5fff;" +
      "background:#fff;color:#0b5fff}.pledge-cb button.primary{background:#0b5fff;color:#fff}" +
      ".pledge-cb :focus-visible{outline:3px solid #ffbf47;outline-offset:2px}" +
      ".pledge-cb{max-height:calc(100vh - 2rem);overflow:auto;box-sizing:border-box}" +
      ".pledge-cb .gpc{background:#e8f5e9;border-left:4px solid #1a7f37;padding:.4rem .6rem}" +
      ".pledge-cb details{margin-top:.2rem}.pledge-cb summary{cursor:pointer;color:#0b5fff}" +
      ".pledge-cb ul{margin:.2rem 0 0;padding-left:1.1rem}.pledge-cb li{overflow-wrap:anywhere}" +
      ".pledge-cb a{color:#0b5fff}.pledge-cb p.notice-line,.pledge-cb p.gpc{margin:.2rem 0 .6rem;box-shadow:none}" +
      ".pledge-cb p.notice-line{background:none;border:0;padding:0}";
    var s = el("style", { id: "pledge-cb-style" });
    s.textContent = css;
    document.head.appendChild(s);
  }

  function open() {
    close();
    style();
    opener = document.activeElement;
    var state = read();
    var current = state && state.v === CONFIG.version ? state : null;
    root = el("div", { "class": "pledge-cb", role: "dialog", "aria-modal": "false", lang: lang,
                       "aria-labelledby": "pledge-cb-title", "aria-describedby": "pledge-cb-body" });
    var title = el("h2", { id: "pledge-cb-title", tabindex: "-1" }, T.title);
    root.appendChild(title);
    root.appendChild(el("p", { id: "pledge-cb-body" }, T.body));
    if (gpc) { root.appendChild(el("p", { "class": "gpc", id: "pledge-cb-gpc", role: "status" }, T.gpc_honoured)); }
    var notice = el("a", { href: origin + CONFIG.notice + "?lang=" + lang, "class": "pledge-cb-notice" }, T.notice_link);
    root.appendChild(el("p", { "class": "notice-line" })).appendChild(notice);
    var set = el("fieldset");
    set.appendChild(el("legend", {}, T.categories));
    CONFIG.categories.forEach(function (cat) {
      var id = "pledge-cb-" + cat.key;
      var row = el("div", { "class": "row" });
      var box = el("input", { type: "checkbox", id: id, name: cat.key, "aria-describedby": id + "-desc" });
      var w = words(cat);
      var note = w.description || T[cat.key + "_desc"] || "";
      if (cat.locked) {
        box.checked = true; box.disabled = true; note = T.always_on + ". " + note;
      } else if (blocked(cat)) {
        box.checked = false; box.disabled = true; note = T.gpc_note;
      } else {
        box.checked = allowed(current, cat.key);
      }
      var text = el("div");
      text.appendChild(el("label", { "for": id }, w.name || T[cat.key] || cat.key));
      text.appendChild(el("small", { id: id + "-desc" }, note));
      if (w.cookies && w.cookies.length) {
        var more = el("details");
        more.appendChild(el("summary", {}, T.cookies_list + " (" + w.cookies.length + ")"));
        var list = el("ul");
        w.cookies.forEach(function (k) {
          var li = el("li");
          li.appendChild(el("strong", {}, k.name));
          li.appendChild(el("span", {}, " — " + (k.purpose || T.not_stated)));
          li.appendChild(el("small", {}, T.cookie_provider + ": " + (k.provider || T.not_stated) + " · " +
                                          T.cookie_duration + ": " + (k.duration || T.not_stated)));
          list.appendChild(li);
        });
        more.appendChild(list);
        text.appendChild(more);
      }
      row.appendChild(box);
      row.appendChild(text);
      set.appendChild(row);
    });
    root.appendChild(set);
    var btns = el("div", { "class": "btns" });
    var reject = el("button", { type: "button", "data-action": "reject" }, T.reject_all);
    var save = el("button", { type: "button", "data-action": "save" }, T.save);
    var accept = el("button", { type: "button", "data-action": "accept", "class": "primary" }, T.accept_all);
    reject.addEventListener("click", function () { decide(all(false)); });
    accept.addEventListener("click", function () { decide(all(true)); });
    save.addEventListener("click", function () {
      var picked = {};
      CONFIG.categories.forEach(function (cat) {
        var box = document.getElementById("pledge-cb-" + cat.key);
        picked[cat.key] = !!(box && box.checked);
      });
      decide(picked);
    });
    btns.appendChild(reject); btns.appendChild(save); btns.appendChild(accept);
    root.appendChild(btns);
    root.addEventListener("keydown", function (ev) {
      if (ev.key === "Escape" && current) { close(); }
    });
    document.body.appendChild(root);
    title.focus();
  }

  function close() {
    if (root && root.parentNode) { root.parentNode.removeChild(root); }
    root = null;
    if (opener && opener.focus && document.contains(opener)) { opener.focus(); }
    opener = null;
  }

  function start() {
    var state = read();
    if (state && state.v === CONFIG.version) {
      if (gpc && !state.g) { state = decide(state.c || {}); } // GPC newly on: turn sale/sharing off
      activate(state);
      return;
    }
    open();
  }

  window.PledgeConsent = {
    open: open,
    get: function () { var s = read(); return s && s.v === CONFIG.version ? s : null; },
    allowed: function (key) { var s = read(); return !!(s && s.v === CONFIG.version) && allowed(s, key); },
    config: CONFIG,
    gpc: gpc
  };
  if (document.readyState === "loading") { document.addEventListener("DOMContentLoaded", start); } else { start(); }
})();
