/* geo-enforce field map: the 巡查 form, the 取证 form on a case and their offline capture queue
 * (served page only).
 *
 * A capture — a patrol record (category, note, position, photos) or evidence on a case (stage,
 * note, the device's time and position, photos, videos, PDFs) — gets a UUID idempotency key
 * when it is made and is kept in IndexedDB (the record and the file Blobs) until the server has
 * it. The sync loop sends queued captures while the device is online (at start, on the 'online'
 * event, after each capture and on a retry timer): 200/201 (stored or already stored) and 409
 * CaseClosed (stored, kept apart from the closed case) remove the capture from the queue; a
 * network error or a 5xx keeps it for the next try; any other refusal keeps it with the
 * server's message shown (and 删除 to drop it). A CaseClosed capture stays visible with its
 * message (IndexedDB store "kept") until 知道了. The toolbar shows 待同步 N while captures wait.
 * POSTs carry the ge_token cookie's token as a Bearer header (the API takes the cookie for
 * reads only). HEIC/HEIF files are refused at 保存 (the server cannot decode them).
 * State: geoEnforce.state.capture. */
(function () {
  "use strict";
  var GE = (window.geoEnforce = window.geoEnforce || {});
  var DB_NAME = "ge-capture", STORE = "queue", KEPT = "kept", VOCAB_KEY = "ge-capture-vocab";
  var RETRY_MS = 30000;
  var dbPromise = null, syncing = null, cfg = null, panel = null, vocab = null;
  var evidenceBox = null;  // the 取证 block of the open popup or bottom sheet (one case)
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
        var req = indexedDB.open(DB_NAME, 2);
        req.onupgradeneeded = function () {
          var names = req.result.objectStoreNames;
          if (!names.contains(STORE)) req.result.createObjectStore(STORE, { keyPath: "key" });
          // captures the server stored apart from a case closed meanwhile (409 CaseClosed)
          if (!names.contains(KEPT)) req.result.createObjectStore(KEPT, { keyPath: "key" });
        };
        req.onsuccess = function () { resolve(req.result); };
        req.onerror = function () { reject(req.error); };
      });
    }
    return dbPromise;
  }
  function tx(mode, work, store) {
    return db().then(function (d) {
      return new Promise(function (resolve, reject) {
        var t = d.transaction(store || STORE, mode), out = work(t.objectStore(store || STORE));
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
  function keptAll() {
    return tx("readonly", function (s) { return s.getAll(); }, KEPT).then(function (rows) {
      return (rows || []).sort(function (a, b) { return a.created < b.created ? -1 : 1; });
    });
  }
  /* a capture stored apart from its closed case: kept visible (no file Blobs) until 知道了 */
  function keepConflict(entry, err, body) {
    var stored = body && body.error && body.error.stored;
    return tx("readwrite", function (s) {
      s.put({ key: entry.key, kind: entry.kind || "patrol", label: entry.label, created: entry.created,
              structure_id: entry.structure_id || null, case_no: entry.case_no || null,
              files: entry.files.length, message: err.message, stored_id: stored ? stored.id : null });
    }, KEPT);
  }
  function dismiss(key) {
    return tx("readwrite", function (s) { s["delete"](key); }, KEPT).then(refresh);
  }

  /* HEIC/HEIF (an iPhone's 高效 format) cannot be decoded by the server: said at 保存 */
  function heicOf(files) {
    return Array.prototype.filter.call(files || [], function (f) {
      return /^image\/hei[cf]/i.test(f.type || "") || /\.hei[cf]$/i.test(f.name || "");
    }).map(function (f) { return f.name || "照片"; });
  }
  function heicMessage(names) {
    return "“" + names.join("、") + "”是 HEIC 照片，服务器无法解码；请在手机 设置→相机→格式 中选择" +
      "“兼容性最佳”（最兼容，即 JPEG）后重新拍摄，或导出为 JPEG 再选择";
  }

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
    return fetch(entry.url || cfg.patrols, {
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
              st.conflicts += 1;
              st.messages.push(err.message);
              say(err.message);
              sayCase(entry, err.message);
              return keepConflict(entry, err, res.body).then(function () { return remove(entry.key); });
            }
            if (res.status >= 500) return null;  // the server's trouble: try again later
            entry.error = err.message;  // refused: kept (nothing is lost), the message shown
            st.messages.push(err.message);
            say(err.message);
            sayCase(entry, err.message);
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
  /* a message about a case's capture, in that case's open 取证 block */
  function sayCase(entry, text) {
    if (evidenceBox && entry.structure_id && evidenceBox.caseId === entry.structure_id) {
      var el = evidenceBox.querySelector(".ge-evidence-msg");
      el.textContent = text;
      el.classList.add("ge-capture-err");
      if (el.scrollIntoView) el.scrollIntoView({ block: "nearest" });
    }
  }
  function refresh() {
    return Promise.all([all(), keptAll()]).then(function (both) {
      var rows = both[0], kept = both[1], n = rows.length, st = GE.state.capture;
      st.kept = kept.length;
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
        panel.querySelector(".ge-capture-list").innerHTML = rows.map(itemHtml).join("") +
          kept.map(keptHtml).join("");
      }
      if (evidenceBox) showCaseItems(evidenceBox, rows, kept);
      return n;
    });
  }
  function itemHtml(r) {
    return '<li data-key="' + esc(r.key) + '">' + esc(r.label) + " · " + esc(r.created.slice(11, 16)) +
      (r.files.length ? " · 文件 " + r.files.length : "") + " · 待同步" +
      (r.error ? ' <span class="ge-capture-err">' + esc(r.error) + "</span>" +
        ' <a href="#" role="button" data-act="drop">删除</a>' : "") + "</li>";
  }
  function keptHtml(k) {
    return '<li class="ge-capture-kept" data-key="' + esc(k.key) + '">' + esc(k.label) + " · " +
      esc(k.created.slice(11, 16)) + (k.stored_id ? " · 已另存为巡查记录 #" + esc(k.stored_id) : "") +
      ' <span class="ge-capture-err">' + esc(k.message) + "</span>" +
      ' <a href="#" role="button" data-act="dismiss">知道了</a></li>';
  }
  /* the 删除 / 知道了 links of a list */
  function listActions(ul) {
    L.DomEvent.on(ul, "click", function (ev) {
      var a = ev.target.closest && ev.target.closest("a[data-act]");
      if (!a) return;
      L.DomEvent.preventDefault(ev);
      var key = a.closest("li").getAttribute("data-key");
      if (a.getAttribute("data-act") === "dismiss") dismiss(key);
      else if (window.confirm("删除这条未能提交的记录？删除后无法恢复。")) remove(key).then(refresh);
    });
  }
  function loadVocab(select) {
    function fill(v) {
      vocab = v;
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
    var heic = heicOf(input.files);
    if (heic.length) { say(heicMessage(heic)); return Promise.resolve(null); }
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

  /* ---- 取证: evidence on a case, from its popup or bottom sheet ---- */
  function stageOptions() {
    var stages = (vocab && vocab.evidence_stages) || {};
    return Object.keys(stages).map(function (k) {
      return '<option value="' + esc(k) + '">' + esc(stages[k]) + "</option>";
    }).join("");
  }
  /* the device's position: the located one (locate button), else one asked for now */
  function devicePosition() {
    if (GE.position) {
      return Promise.resolve({ lon: GE.position.lng, lat: GE.position.lat,
                               accuracy: GE.positionAccuracy || null });
    }
    if (!navigator.geolocation) return Promise.resolve(null);
    return new Promise(function (resolve) {
      navigator.geolocation.getCurrentPosition(function (p) {
        resolve({ lon: p.coords.longitude, lat: p.coords.latitude, accuracy: p.coords.accuracy });
      }, function () { resolve(null); }, { enableHighAccuracy: true, timeout: 8000, maximumAge: 60000 });
    });
  }
  function showCaseItems(box, rows, kept) {
    var mine = rows.filter(function (r) { return r.structure_id === box.caseId; });
    var apart = kept.filter(function (k) { return k.structure_id === box.caseId; });
    box.querySelector(".ge-evidence-list").innerHTML = mine.map(itemHtml).join("") +
      apart.map(keptHtml).join("");
    var p = GE.map && GE.map._popup;
    if (!GE.phone && p && p.isOpen && p.isOpen()) p.update();
  }
  function saveEvidence(box) {
    var say2 = function (text, bad) {
      var el = box.querySelector(".ge-evidence-msg");
      el.textContent = text;
      el.classList.toggle("ge-capture-err", !!bad);
    };
    var stage = box.querySelector(".ge-evidence-stage"), input = box.querySelector(".ge-evidence-files");
    var note = box.querySelector(".ge-evidence-note");
    if (!stage.value) { say2("请选择取证阶段", true); return Promise.resolve(null); }
    if (!input.files || !input.files.length) {
      say2("请拍照、录像或选择文件（至少一个）", true);
      return Promise.resolve(null);
    }
    var heic = heicOf(input.files);
    if (heic.length) { say2(heicMessage(heic), true); return Promise.resolve(null); }
    var files = Array.prototype.map.call(input.files, function (f) {
      return { name: f.name || "file", type: f.type, blob: f };
    });
    var observed = new Date().toISOString();
    return devicePosition().then(function (pos) {
      var entry = {
        key: uuid(),
        kind: "evidence",
        url: cfg.evidence.replace("{id}", box.caseId),
        structure_id: box.caseId,
        case_no: box.caseNo,
        created: observed,
        label: "取证 " + box.caseNo + " " + stage.options[stage.selectedIndex].textContent,
        fields: { stage: stage.value, observed_at: observed, note: note.value.trim() },
        files: files
      };
      if (pos) {
        entry.fields.lon = pos.lon.toFixed(7);
        entry.fields.lat = pos.lat.toFixed(7);
        if (pos.accuracy) entry.fields.accuracy_m = Math.min(100000, pos.accuracy);
      }
      return put(entry).then(function () {
        note.value = "";
        input.value = "";
        box.querySelector(".ge-evidence-form").hidden = true;  // the message and list in view
        say2("已保存（" + (pos ? "位置取自设备定位" : "设备未定位，位置取自照片 GPS（如有）") + "），" +
             (navigator.onLine ? "正在同步…" : "离线，联网后自动同步"));
        return refresh();
      }).then(function () {
        sync();
        return entry.key;
      });
    }).catch(function (e) {
      say2("未能保存到本机：" + e, true);
      return null;
    });
  }
  /* GE.popupExtras (geoenforce.js): a case's popup or sheet gets the 取证 block */
  function evidenceBlock(layer, props, el) {
    if (layer !== "structure" || !cfg || !cfg.evidence || !el) return;
    var box = L.DomUtil.create("div", "ge-evidence", el);
    box.caseId = props.id;
    box.caseNo = props.case_no;
    box.innerHTML = '<a href="#" role="button" class="ge-evidence-open">取证</a>' +
      '<div class="ge-evidence-form" hidden>' +
      '<label>阶段 <select class="ge-evidence-stage">' + stageOptions() + "</select></label>" +
      '<label>说明 <textarea class="ge-evidence-note" rows="2" maxlength="500"></textarea></label>' +
      '<label>照片、视频或 PDF <input class="ge-evidence-files" type="file" ' +
      'accept="image/*,video/*,application/pdf" multiple></label>' +
      '<a href="#" role="button" class="ge-evidence-save">保存取证</a></div>' +
      '<div class="ge-evidence-msg" role="status"></div><ol class="ge-evidence-list"></ol>';
    evidenceBox = box;
    L.DomEvent.on(box.querySelector(".ge-evidence-open"), "click", function (ev) {
      L.DomEvent.preventDefault(ev);
      var form = box.querySelector(".ge-evidence-form");
      form.hidden = !form.hidden;
      if (!form.hidden && !box.querySelector(".ge-evidence-stage").options.length) {
        box.querySelector(".ge-evidence-stage").innerHTML = stageOptions();
      }
      var p = GE.map._popup;
      if (!GE.phone && p && p.isOpen && p.isOpen()) p.update();
    });
    L.DomEvent.on(box.querySelector(".ge-evidence-save"), "click", function (ev) {
      L.DomEvent.preventDefault(ev);
      saveEvidence(box);
    });
    listActions(box.querySelector(".ge-evidence-list"));
    refresh();
  }

  GE.captureControl = function (control) {
    cfg = GE.config.capture;
    GE.popupExtras = evidenceBlock;
    GE.state.capture = { pending: 0, synced: 0, conflicts: 0, kept: 0, networkErrors: 0,
                         messages: [], lastStatus: null };
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
      listActions(div.querySelector(".ge-capture-list"));
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
    saveEvidence: function () { return evidenceBox ? saveEvidence(evidenceBox) : Promise.resolve(null); },
    kept: keptAll,
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
