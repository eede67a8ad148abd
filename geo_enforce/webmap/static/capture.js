/* geo-enforce field map: the 巡查 form and its offline capture queue (served page only).
 *
 * A capture (category, note, position, photos) gets a UUID idempotency key when it is made and
 * is kept in IndexedDB (the record and the photo Blobs) until the server has it. The sync loop
 * sends queued captures while the device is online (at start, on the 'online' event, after each
 * capture and on a retry timer): 200/201 (stored or already stored) and 409 CaseClosed (stored,
 * kept apart from the closed case) remove the capture from the queue; a network error or a 5xx
 * keeps it for the next try; any other refusal keeps it with the server's message shown.
 * The toolbar shows 待同步 N while captures wait. POSTs carry the ge_token cookie's token as
 * a Bearer header (the API takes the cookie for reads only). State: geoEnforce.state.capture. */
(function () {
  "use strict";
  var GE = (window.geoEnforce = window.geoEnforce || {});
  var DB_NAME = "ge-capture", STORE = "queue", VOCAB_KEY = "ge-capture-vocab";
  var RETRY_MS = 30000;
  var dbPromise = null, syncing = null, cfg = null, panel = null;
  var sent = [];  // captures sent this session (kept in memory for a replay check)

  function esc(s) {
    return String(s).replace(/[&<>"']/g, function (c) {
      return { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" }[c];
    });
  }
  function uuid() {
    if (window.crypto && crypto.randomUUID) return crypto.randomUUID();
    var b = crypto.getRandomValues(new Uint8Array(16));
    b[6] = (b[6] & 15) | 64;
    b[8] = (b[8] & 63) | 128;
    var h = Array.prototype.map.call(b, function (x) { return (x + 256).toString(16).slice(1); }).join("");
    return h.slice(0, 8) + "-" + h.slice(8, 12) + "-" + h.slice(12, 16) + "-" + h.slice(16, 20) + "-" + h.slice(20);
  }
  function token() {
    var m = document.cookie.match(/(?:^|;\s*)ge_token=([^;]+)/);
    return m ? decodeURIComponent(m[1]) : null;
  }

  /* ---- IndexedDB queue ---- */
  function db() {
    if (!dbPromise) {
      dbPromise = new Promise(function (resolve, reject) {
        var req = indexedDB.open(DB_NAME, 1);
        req.onupgradeneeded = function () { req.result.createObjectStore(STORE, { keyPath: "key" }); };
        req.onsuccess = function () { resolve(req.result); };
        req.onerror = function () { reject(req.error); };
      });
    }
    return dbPromise;
  }
  function tx(mode, work) {
    return db().then(function (d) {
      return new Promise(function (resolve, reject) {
        var t = d.transaction(STORE, mode), out = work(t.objectStore(STORE));
        t.oncomplete = function () { resolve(out && "result" in out ? out.result : undefined); };
        t.onerror = function () { reject(t.error); };
        t.onabort = function () { reject(t.error); };
      });
    });
  }
  function all() {
    return tx("readonly", function (s) { return s.getAll(); }).then(function (rows) {
      return (rows || []).sort(function (a, b) { return a.created < b.created ? -1 : 1; });
    });
  }
  function put(entry) { return tx("readwrite", function (s) { s.put(entry); }); }
  function remove(key) { return tx("readwrite", function (s) { s["delete"](key); }); }

  /* ---- sending ---- */
  function formOf(entry) {
    var fd = new FormData();
    Object.keys(entry.fields).forEach(function (k) {
      var v = entry.fields[k];
      if (v !== null && v !== undefined && v !== "") fd.append(k, String(v));
    });
    entry.files.forEach(function (f) { fd.append("files", f.blob, f.name); });
    return fd;
  }
  function post(entry) {
    var headers = { "Idempotency-Key": entry.key };
    var t = token();
    if (t) headers.Authorization = "Bearer " + t;
    return fetch(cfg.patrols, {
      method: "POST", credentials: "same-origin", headers: headers, body: formOf(entry)
    }).then(function (r) {
      return r.json().then(function (b) { return { status: r.status, body: b }; },
        function () { return { status: r.status, body: null }; });
    });
  }
  function errorOf(res) {
    var e = res.body && res.body.error;
    return { code: e ? e.code : null, message: e && e.message ? e.message : "HTTP " + res.status };
  }

  /* send every queued capture once, oldest first; resolves to the number still queued */
  function sync() {
    if (syncing) return syncing;
    if (!navigator.onLine) return refresh();
    var st = GE.state.capture;
    syncing = all().then(function (rows) {
      var chain = Promise.resolve();
      rows.forEach(function (entry) {
        chain = chain.then(function () {
          return post(entry).then(function (res) {
            st.lastStatus = res.status;
            if (res.status === 200 || res.status === 201) {
              sent.push(entry);
              st.synced += 1;
              return remove(entry.key);
            }
            var err = errorOf(res);
            if (res.status === 409 && err.code === "CaseClosed") {
              sent.push(entry);
              st.synced += 1;
              st.messages.push(err.message);
              say(err.message);
              return remove(entry.key);
            }
            if (res.status >= 500) return null;  // the server's trouble: try again later
            entry.error = err.message;  // refused: kept (nothing is lost), the message shown
            st.messages.push(err.message);
            say(err.message);
            return put(entry);
          }, function () { st.networkErrors += 1; });  // no network: stays queued
        });
      });
      return chain;
    }).then(function () { syncing = null; return refresh(); },
      function (e) { syncing = null; console.warn("capture sync:", e); return refresh(); });
    return syncing;
  }

  /* ---- the form ---- */
  function say(text) {
    if (panel) panel.querySelector(".ge-capture-msg").textContent = text;
  }
  function refresh() {
    return all().then(function (rows) {
      var n = rows.length, st = GE.state.capture;
      st.pending = n;
      var label = n ? "待同步 " + n : "";
      var tool = document.querySelector('.ge-toolbar .ge-tool[data-tool="capture"]');
      if (tool) {
        var badge = tool.querySelector(".ge-pending");
        if (!badge) {
          badge = document.createElement("span");
          badge.className = "ge-pending";
          tool.appendChild(badge);
        }
        badge.textContent = label;
        badge.style.display = n ? "" : "none";
      }
      if (panel) {
        panel.querySelector(".ge-capture-pending").textContent = n ? label + " 条" : "没有待同步的记录";
        panel.querySelector(".ge-capture-list").innerHTML = rows.map(function (r) {
          return "<li>" + esc(r.label) + " · " + esc(r.created.slice(11, 16)) +
            (r.files.length ? " · 照片 " + r.files.length : "") +
            (r.error ? ' <span class="ge-capture-err">' + esc(r.error) + "</span>" : "") + "</li>";
        }).join("");
      }
      return n;
    });
  }
  function loadVocab(select) {
    function fill(v) {
      var cats = v.patrol_categories || {};
      select.innerHTML = Object.keys(cats).map(function (k) {
        return '<option value="' + esc(k) + '">' + esc(cats[k]) + "</option>";
      }).join("");
    }
    var cached = null;
    try { cached = JSON.parse(localStorage.getItem(VOCAB_KEY) || "null"); } catch (e) { cached = null; }
    if (cached) fill(cached);
    return fetch(cfg.vocabularies, { credentials: "same-origin" }).then(function (r) {
      if (!r.ok) throw new Error("HTTP " + r.status);
      return r.json();
    }).then(function (v) {
      localStorage.setItem(VOCAB_KEY, JSON.stringify(v));
      fill(v);
    }, function () {
      if (!cached) say("类别表未能加载（离线且此前未联网打开过）；联网后重新打开外业图");
    });
  }
  function position() {
    if (GE.position) return { lon: GE.position.lng, lat: GE.position.lat, src: "定位" };
    var c = GE.map.getCenter();
    return { lon: c.lng, lat: c.lat, src: "地图中心" };
  }

  /* save one capture in the queue (and try to send it); resolves to its key */
  function save(div) {
    var select = div.querySelector(".ge-capture-cat");
    var noteEl = div.querySelector(".ge-capture-note");
    var input = div.querySelector(".ge-capture-photos");
    if (!select.value) { say("请选择巡查类别"); return Promise.resolve(null); }
    var pos = position();
    var files = Array.prototype.map.call(input.files || [], function (f) {
      return { name: f.name || "photo.jpg", type: f.type, blob: f };
    });
    var entry = {
      key: uuid(),
      created: new Date().toISOString(),
      label: select.options[select.selectedIndex].textContent,
      fields: {
        observed_at: new Date().toISOString(),
        category: select.value,
        note: noteEl.value.trim(),
        lon: pos.lon.toFixed(7),
        lat: pos.lat.toFixed(7)
      },
      files: files
    };
    if (GE.position && GE.positionAccuracy) entry.fields.accuracy_m = GE.positionAccuracy;
    return put(entry).then(function () {
      noteEl.value = "";
      input.value = "";
      say("已保存（位置取自" + pos.src + "），" + (navigator.onLine ? "正在同步…" : "离线，联网后自动同步"));
      return refresh();
    }).then(function () {
      sync();
      return entry.key;
    }, function (e) {
      say("未能保存到本机：" + e);
      return null;
    });
  }

  GE.captureControl = function (control) {
    cfg = GE.config.capture;
    GE.state.capture = { pending: 0, synced: 0, networkErrors: 0, messages: [], lastStatus: null };
    return control("topleft", "capture", function (div) {
      panel = div;
      div.className += " ge-capture";
      // desktop: folded under its title; phone: the 巡查 button opens it (title hidden)
      div.innerHTML = "<details><summary><b>巡查记录</b></summary>" +
        '<label>类别 <select class="ge-capture-cat"></select></label>' +
        '<label>情况说明 <textarea class="ge-capture-note" rows="2" maxlength="500"></textarea></label>' +
        '<label>照片 <input class="ge-capture-photos" type="file" accept="image/*" capture="environment" multiple></label>' +
        '<a href="#" role="button" class="ge-capture-save">保存</a> ' +
        '<a href="#" role="button" class="ge-capture-sync">立即同步</a>' +
        '<div class="ge-capture-msg" role="status"></div>' +
        '<div class="ge-capture-pending"></div><ol class="ge-capture-list"></ol></details>';
      loadVocab(div.querySelector(".ge-capture-cat"));
      L.DomEvent.on(div.querySelector(".ge-capture-save"), "click", function (ev) {
        L.DomEvent.preventDefault(ev);
        save(div);
      });
      L.DomEvent.on(div.querySelector(".ge-capture-sync"), "click", function (ev) {
        L.DomEvent.preventDefault(ev);
        if (!navigator.onLine) say("离线，联网后自动同步");
        sync();
      });
      GE.map.on("locationfound", function (e) { GE.positionAccuracy = e.accuracy; });
      window.addEventListener("online", function () { sync(); });
      setInterval(sync, RETRY_MS);
      // the toolbar exists once the page has laid itself out
      setTimeout(function () { refresh().then(sync); }, 0);
    });
  };

  /* for people and tests: the queue, one sync now, and sending again what this page sent
   * (an idempotent replay: the server answers 200 with the stored records) */
  GE.capture = {
    queued: all,
    sync: sync,
    save: function () { return panel ? save(panel) : Promise.resolve(null); },
    resendSent: function () {
      return sent.reduce(function (chain, entry) {
        return chain.then(function (out) {
          return post(entry).then(function (res) {
            out.push({ key: entry.key, status: res.status, id: res.body && res.body.id,
                       replayed: res.body && res.body.replayed });
            return out;
          });
        });
      }, Promise.resolve([]));
    }
  };
})();
