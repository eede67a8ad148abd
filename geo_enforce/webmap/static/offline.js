/* geo-enforce field map: keeping a village for offline use (离线 panel, served page only).
 *
 * The squad chooses a village; the page asks the API for its plan (GET /map/offline-plan:
 * the z14–z19 vector tiles of every layer and the orthophoto tiles of the latest two flights
 * over the village's extent, the patch chips, and the size estimate), shows the estimate in MB
 * and, when the limits allow it, 下载 sends the tile URLs in batches to the service worker,
 * which fetches them into the cache ge-village-<code> (sw.js) while a progress bar counts.
 * With no network the worker answers the map's tile requests from that cache. Downloaded
 * villages are listed (localStorage ge-offline-villages) with 打开 (frame the village) and 删除.
 * State for tests and people: geoEnforce.state.offline, geoEnforce.offline. */
(function () {
  "use strict";
  var GE = (window.geoEnforce = window.geoEnforce || {});
  var KEPT_KEY = "ge-offline-villages", PREFIX = "ge-village-", BATCH = 120;
  var cfg = null, panel = null, plan = null;

  function esc(s) {
    return String(s == null ? "" : s).replace(/[&<>"']/g, function (c) {
      return { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" }[c];
    });
  }
  function mb(bytes) { return (bytes / 1048576).toFixed(1) + " MB"; }
  function num(n) { return Number(n).toLocaleString("zh-CN"); }
  function $(sel) { return panel.querySelector(sel); }
  function say(text, bad) {
    var el = $(".ge-offline-msg");
    el.textContent = text;
    el.classList.toggle("ge-offline-bad", !!bad);
  }

  /* villages kept on this device: code → {name, bbox, tiles, failed, bytes, at} */
  function kept() {
    try { return JSON.parse(localStorage.getItem(KEPT_KEY) || "{}") || {}; } catch (e) { return {}; }
  }
  function setKept(code, info) {
    var k = kept();
    if (info) k[code] = info; else delete k[code];
    localStorage.setItem(KEPT_KEY, JSON.stringify(k));
  }

  /* every URL of a plan: tiles written out from the templates, then the chips */
  function urlsOf(p) {
    var out = [];
    p.sources.forEach(function (s) {
      // vector tiles exactly as this page asks for them (its tileUrl may carry a query)
      var tpl = s.kind === "vector" && GE.config.tileUrl ?
        GE.config.tileUrl.replace("{layer}", s.name) : s.template;
      s.ranges.forEach(function (r) {
        for (var y = r.y0; y <= r.y1; y++) {
          for (var x = r.x0; x <= r.x1; x++) {
            out.push(tpl.replace("{z}", r.z).replace("{x}", x).replace("{y}", y));
          }
        }
      });
    });
    return out.concat(p.chips || []);
  }

  function loadPlan(code) {
    plan = null;
    $(".ge-offline-get").classList.add("ge-disabled");
    var out = $(".ge-offline-estimate");
    if (!code) { out.textContent = ""; return Promise.resolve(null); }
    if (!navigator.onLine) {
      out.textContent = "离线时无法估算和下载，请联网后再选择";
      return Promise.resolve(null);
    }
    out.textContent = "正在估算…";
    return fetch(cfg.plan + "?village=" + encodeURIComponent(code), { credentials: "same-origin" })
      .then(function (r) {
        return r.json().then(function (b) {
          if (!r.ok) throw new Error((b && b.error && b.error.message) || "HTTP " + r.status);
          return b;
        });
      }).then(function (p) {
        plan = p;
        out.textContent = p.message;
        out.classList.toggle("ge-offline-bad", !p.allowed);
        $(".ge-offline-get").classList.toggle("ge-disabled", !p.allowed);
        GE.state.offline.plan = { code: p.village.code, tiles: p.tiles, mb: p.mb, allowed: p.allowed,
                                  message: p.message };
        return p;
      }, function (err) {
        out.textContent = "无法估算（" + err.message + "），请检查网络或登录";
        out.classList.add("ge-offline-bad");
        return null;
      });
  }

  /* one batch through the service worker; progress(counts) after every tile */
  function sendBatch(cache, urls, progress) {
    return new Promise(function (resolve, reject) {
      var ch = new MessageChannel();
      ch.port1.onmessage = function (e) {
        var d = e.data || {};
        if (d.type === "progress") progress(d);
        else if (d.type === "done") resolve(d);
        else reject(d);
      };
      navigator.serviceWorker.controller.postMessage({ type: "ge-pack", cache: cache, urls: urls },
                                                     [ch.port2]);
    });
  }

  function enoughRoom(bytes) {
    if (!navigator.storage || !navigator.storage.estimate) return Promise.resolve(true);
    return navigator.storage.estimate().then(function (e) {
      return !e.quota || e.quota - (e.usage || 0) > bytes * 1.2;
    }, function () { return true; });
  }

  /* download the chosen village; resolves to geoEnforce.state.offline */
  function download() {
    var st = GE.state.offline, p = plan;
    if (st.running) return Promise.resolve(st);
    if (!p) { say("请先选择村并等待估算完成", true); return Promise.resolve(st); }
    if (!p.allowed) { say(p.message, true); return Promise.resolve(st); }
    if (!navigator.serviceWorker || !navigator.serviceWorker.controller) {
      say("离线功能尚未就绪（Service Worker 未启用），请刷新页面后重试", true);
      return Promise.resolve(st);
    }
    var urls = urlsOf(p), total = urls.length, cache = PREFIX + p.village.code;
    var bar = $(".ge-offline-progress");
    Object.assign(st, { running: true, code: p.village.code, total: total, done: 0, failed: 0,
                        bytes: 0, finished: false, error: null });
    bar.max = total;
    bar.value = 0;
    bar.hidden = false;
    function show() {
      bar.value = st.done + st.failed;
      say("下载中 " + num(st.done + st.failed) + " / " + num(total) + " 张（" + mb(st.bytes) + "）");
    }
    if (navigator.storage && navigator.storage.persist) navigator.storage.persist().catch(function () {});
    return enoughRoom(p.bytes).then(function (room) {
      if (!room) throw { error: "quota" };
      var i = 0;
      function next() {
        if (i >= total) return null;
        if (!navigator.onLine) throw { error: "offline" };
        var batch = urls.slice(i, i + BATCH), base = { done: st.done, failed: st.failed, bytes: st.bytes };
        i += batch.length;
        return sendBatch(cache, batch, function (d) {
          st.done = base.done + d.done;
          st.failed = base.failed + d.failed;
          st.bytes = base.bytes + d.bytes;
          show();
        }).then(function (d) {
          st.done = base.done + d.done;
          st.failed = base.failed + d.failed;
          st.bytes = base.bytes + d.bytes;
          show();
          return next();
        });
      }
      show();
      return next();
    }).then(function () {
      var before = kept()[p.village.code];
      setKept(p.village.code, {
        name: p.village.name, bbox: p.village.bbox, tiles: st.done, failed: st.failed,
        bytes: Math.max(st.bytes, before ? before.bytes : 0), at: new Date().toISOString()
      });
      say("已下载 " + p.village.name + "：" + num(st.done) + " 张" +
          (st.failed ? "，" + num(st.failed) + " 张未能下载（联网后再次下载可补齐）" : "") +
          "；无网络时可从下方列表打开", !!st.failed);
    }, function (err) {
      var why = err && err.error === "quota" ? "手机存储空间不足，请删除其他离线村或清理空间" :
        err && err.error === "offline" ? "网络中断" : "下载出错（" + ((err && err.error) || err) + "）";
      st.error = why;
      say(why + "；已下载 " + num(st.done) + " / " + num(total) + " 张，再次下载可补齐", true);
    }).then(function () {
      st.running = false;
      st.finished = true;
      listKept();
      return st;
    });
  }

  /* frame a kept village (offline too: the page has every village's extent) */
  function open(code) {
    var v = kept()[code];
    if (!v) return false;
    if (GE.phone) GE.closePanels();
    GE.map.fitBounds([[v.bbox[1], v.bbox[0]], [v.bbox[3], v.bbox[2]]], { animate: false });
    if (GE.map.getZoom() < 14) GE.map.setZoom(14, { animate: false });
    GE.state.offline.opened = code;
    return true;
  }
  function remove(code) {
    return caches["delete"](PREFIX + code).then(function () {
      setKept(code, null);
      listKept();
      say("已删除离线村");
    });
  }

  function listKept() {
    var k = kept(), codes = Object.keys(k), ul = $(".ge-offline-list");
    GE.state.offline.kept = codes;
    $(".ge-offline-kept").style.display = codes.length ? "" : "none";
    ul.innerHTML = codes.map(function (c) {
      var v = k[c];
      return "<li>" + esc(v.name) + " · " + num(v.tiles) + " 张 · " + mb(v.bytes) + " · " +
        esc(String(v.at).slice(5, 10)) +
        ' <a href="#" role="button" data-act="open" data-code="' + esc(c) + '">打开</a>' +
        ' <a href="#" role="button" data-act="delete" data-code="' + esc(c) + '">删除</a></li>';
    }).join("");
  }

  GE.offlineControl = function (control) {
    cfg = GE.config.offline;
    GE.state.offline = { running: false, finished: false, plan: null, kept: [] };
    return control("topleft", "offline", function (div) {
      panel = div;
      div.className += " ge-offline";
      var villages = (GE.config.villages || []).filter(function (v) {
        return v.level === "village" || v.level === "community";
      });
      div.innerHTML = "<details><summary><b>离线地图</b></summary>" +
        '<label>下载一个村供无网络时使用（z14–z19） <select class="ge-offline-village">' +
        '<option value="">选择村/社区…</option>' + villages.map(function (v) {
          return '<option value="' + esc(v.code) + '">' + esc(v.name) + "</option>";
        }).join("") + "</select></label>" +
        '<div class="ge-offline-estimate" role="status"></div>' +
        '<a href="#" role="button" class="ge-offline-get ge-disabled">下载</a>' +
        '<progress class="ge-offline-progress" hidden></progress>' +
        '<div class="ge-offline-msg" role="status"></div>' +
        '<div class="ge-offline-kept" style="display:none">已下载的村：<ul class="ge-offline-list"></ul></div>' +
        "</details>";
      div.querySelector(".ge-offline-village").addEventListener("change", function (e) {
        loadPlan(e.target.value);
      });
      L.DomEvent.on(div.querySelector(".ge-offline-get"), "click", function (ev) {
        L.DomEvent.preventDefault(ev);
        download();
      });
      L.DomEvent.on(div.querySelector(".ge-offline-list"), "click", function (ev) {
        var a = ev.target.closest && ev.target.closest("a[data-act]");
        if (!a) return;
        L.DomEvent.preventDefault(ev);
        var code = a.getAttribute("data-code");
        if (a.getAttribute("data-act") === "open") open(code);
        else if (window.confirm("删除该村的离线地图？")) remove(code);
      });
      listKept();
    });
  };

  /* for people and tests */
  GE.offline = {
    plan: function (code) {
      if (panel) $(".ge-offline-village").value = code;
      return loadPlan(code);
    },
    urls: urlsOf,
    download: download,
    kept: kept,
    open: open,
    remove: remove
  };
})();
