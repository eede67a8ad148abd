/* geo-enforce field map: service worker (filled in and served by the API at /map/sw.js).
 * The app shell (the page and every script, style and image it loads from /static/) is cached
 * on install, so /map reloads with no network; map data (tiles, chips, search) is kept as it
 * is fetched and answered from the cache when the network is gone. */
"use strict";
var VERSION = "__GE_VERSION__";
var PAGE = "__GE_PAGE__";
var SHELL = __GE_SHELL__;
var DATA = __GE_DATA__;
var SHELL_CACHE = "ge-shell-" + VERSION;
var DATA_CACHE = "ge-data";

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

/* the network while there is one (fresh ledger data), else the last copy */
function networkFirst(request, cacheName, fallback) {
  return fetch(request).then(function (resp) { return keep(cacheName, request, resp); },
    function (err) {
      return caches.match(request).then(function (hit) {
        if (hit) return hit;
        if (fallback) return caches.match(fallback).then(function (f) { if (f) return f; throw err; });
        throw err;
      });
    });
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
    event.respondWith(networkFirst(request, DATA_CACHE));
  }
});
