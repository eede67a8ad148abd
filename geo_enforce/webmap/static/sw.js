/* geo-enforce field map: service worker (filled in and served by the API at /map/sw.js).
 * The app shell (the page and every script, style and image it loads from /static/) is cached
 * on install, so /map reloads with no network; map data (tiles, chips, search) is kept as it
 * is fetched and answered from the cache when the network is gone. A village kept for offline
 * use (the page's 离线 panel, offline.js) is fetched here into its own cache, ge-village-<code>,
 * which a new version of the worker leaves alone. */
"use strict";
var VERSION = "__GE_VERSION__";
var PAGE = "__GE_PAGE__";
var SHELL = __GE_SHELL__;
var DATA = __GE_DATA__;
var SHELL_CACHE = "ge-shell-" + VERSION;
var DATA_CACHE = "ge-data";
var VILLAGE_PREFIX = "ge-village-";
var LANES = 6;  // tiles fetched at once while keeping a village

self.addEventListener("install", function (event) {
  event.waitUntil(caches.open(SHELL_CACHE).then(function (cache) {
    return cache.addAll(SHELL.map(function (u) {
      return new Request(u, { credentials: "same-origin", cache: "reload" });
    }));
  }).then(function () { return self.skipWaiting(); }));
});

self.addEventListener("activate", function (event) {
  event.waitUntil(caches.keys().then(function (keys) {
    return Promise.all(keys.filter(function (k) {
      return k.indexOf("ge-shell-") === 0 && k !== SHELL_CACHE;
    }).map(function (k) { return caches.delete(k); }));
  }).then(function () { return self.clients.claim(); }));
});

function keep(cacheName, request, response) {
  if (response.ok) {
    var copy = response.clone();
    caches.open(cacheName).then(function (c) { return c.put(request, copy); });
  }
  return response;
}

/* the network while there is one (fresh ledger data), else the last copy (any cache: a kept
 * village's too) */
function networkFirst(request, cacheName, fallback) {
  return fetch(request).then(function (resp) { return keep(cacheName, request, resp); },
    function (err) {
      return caches.match(request, { ignoreVary: true }).then(function (hit) {
        if (hit) return hit;
        if (fallback) return caches.match(fallback).then(function (f) { if (f) return f; throw err; });
        throw err;
      });
    });
}

/* map data neither reachable nor kept (offline, outside the kept villages): an answer the page
 * takes as "nothing here" (an empty tile, no search hits) rather than a failed fetch */
function notKept() {
  return new Response("", { status: 504, statusText: "offline, not kept on this device",
                            headers: { "Cache-Control": "no-store" } });
}

/* versioned files: the cache, else the network */
function cacheFirst(request) {
  return caches.match(request).then(function (hit) {
    return hit || fetch(request).then(function (resp) { return keep(SHELL_CACHE, request, resp); });
  });
}

self.addEventListener("fetch", function (event) {
  var request = event.request;
  if (request.method !== "GET") return;
  var url = new URL(request.url);
  if (url.origin !== self.location.origin) return;
  if (url.pathname === PAGE) {
    event.respondWith(networkFirst(request, SHELL_CACHE, PAGE));
  } else if (url.pathname.indexOf("/static/") === 0) {
    event.respondWith(cacheFirst(request));
  } else if (DATA.some(function (p) { return url.pathname.indexOf(p) === 0; })) {
    event.respondWith(networkFirst(request, DATA_CACHE).catch(notKept));
  }
});

/* Keeping a village: the page sends its tile URLs in batches ({type: "ge-pack", cache:
 * "ge-village-<code>", urls: [...]}, a MessagePort to answer on). Each URL of this origin under
 * a map-data prefix is fetched, unless the village's cache holds it already (so a second
 * download only fills the gaps), and kept there. The port gets {type: "progress"} after every
 * tile and {type: "done"} (or {type: "error"}: storage full) with the counts of the batch:
 * done, failed, bytes (of the tiles fetched now). */
self.addEventListener("message", function (event) {
  var msg = event.data || {}, port = event.ports && event.ports[0];
  if (msg.type !== "ge-pack" || !port || typeof msg.cache !== "string" ||
      msg.cache.indexOf(VILLAGE_PREFIX) !== 0 || !Array.isArray(msg.urls)) return;
  event.waitUntil(keepVillage(msg.cache, msg.urls, port));
});

function keepVillage(name, urls, port) {
  var done = 0, failed = 0, bytes = 0, next = 0, full = null;
  function one(cache, u) {
    var url = new URL(u, self.location.origin);
    if (url.origin !== self.location.origin ||
        !DATA.some(function (p) { return url.pathname.indexOf(p) === 0; })) {
      return Promise.resolve(false);
    }
    var request = new Request(url.href, { credentials: "same-origin" });
    return cache.match(request, { ignoreVary: true }).then(function (hit) {
      if (hit) return true;
      return fetch(request).then(function (resp) {
        if (!resp.ok) return false;
        return resp.clone().arrayBuffer().then(function (buf) {
          return cache.put(request, resp).then(function () {
            bytes += buf.byteLength;
            return true;
          });
        });
      });
    }).catch(function (err) {
      if (err && err.name === "QuotaExceededError") full = err;
      return false;
    });
  }
  return caches.open(name).then(function (cache) {
    function lane() {
      if (full || next >= urls.length) return Promise.resolve();
      var u = urls[next++];
      return one(cache, u).then(function (ok) {
        if (ok) done += 1; else failed += 1;
        port.postMessage({ type: "progress", done: done, failed: failed, bytes: bytes });
        return lane();
      });
    }
    var lanes = [];
    for (var i = 0; i < LANES; i++) lanes.push(lane());
    return Promise.all(lanes);
  }).then(function () {
    port.postMessage({ type: full ? "error" : "done", error: full ? "quota" : null,
                       done: done, failed: failed, bytes: bytes });
  }, function (err) {
    port.postMessage({ type: "error", error: String(err), done: done, failed: failed, bytes: bytes });
  });
}
