/* geo-enforce field map: vector-tile layers, Chinese popups, filters, search, measure (m², 亩),
 * mouse position in CGCS2000 and Gauss-Krüger, offline orthophoto overlays.
 * Needs Leaflet, Leaflet.VectorGrid and proj4 (all served locally). The page's own state is kept
 * in window.geoEnforce.state so tests (and people) can see what was drawn. */
(function () {
  "use strict";
  var GE = (window.geoEnforce = window.geoEnforce || {});
  var cfg = null;
  var map = null;
  var layers = {};
  var filter = { village: "", status: "", category: "", since: false, overdue: false };
  // firstDraw/loaded: performance.now() (ms since navigation) of each layer's first drawn
  // feature and of its first complete set of visible tiles
  GE.state = { tiles: {}, drawn: {}, firstDraw: {}, loaded: {}, tileErrors: 0, popups: 0,
               lastPopup: null, sheet: false, panel: null, swipeOn: false, measuring: false };
  GE.layers = layers;
  GE.filter = filter;

  var M2_PER_MU = 2000 / 3;

  function esc(s) {
    return String(s == null ? "" : s).replace(/[&<>"']/g, function (c) {
      return { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" }[c];
    });
  }
  function fmt(n, d) {
    if (n == null || isNaN(n)) return "—";
    return Number(n).toLocaleString("zh-CN", { minimumFractionDigits: d, maximumFractionDigits: d });
  }
  function areaText(m2, mu) {
    if (m2 == null) return "—";
    if (mu == null) mu = m2 / M2_PER_MU;
    return fmt(m2, 2) + " m²（" + fmt(mu, 2) + " 亩）";
  }
  function label(vocab, key) {
    if (key == null || key === "") return "—";
    var v = cfg.vocab[vocab] || {};
    return v[key] || key;
  }
  function row(k, v) {
    return "<tr><th>" + esc(k) + "</th><td>" + v + "</td></tr>";
  }
  function styleFor(layer, props) {
    var st = cfg.styles[layer];
    var base = Object.assign({}, st["default"]);
    if (st.by) {
      var key = props[st.by];
      if (st.by === "is_permanent_basic") key = String(key);
      var v = st.values[key == null ? "" : key];
      if (v) Object.assign(base, v);
    }
    delete base.label;
    return base;
  }

  /* ---- filters ---- */
  // today's date (the device's), as the ISO text the tiles carry dates in
  GE.today = function () {
    var d = new Date();
    return d.getFullYear() + "-" + String(d.getMonth() + 1).padStart(2, "0") + "-" +
      String(d.getDate()).padStart(2, "0");
  };
  // 逾期: a served 责令限期拆除 notice whose deadline has passed and the case is still open
  // (the same condition as geo_enforce.ledger.deadlines for today)
  function overdueDays(p) {
    if (p.status !== "notice_served" || !p.deadline_on) return 0;
    var days = Math.round((Date.parse(GE.today()) - Date.parse(p.deadline_on)) / 86400000);
    return days > 0 ? days : 0;
  }
  GE.overdueDays = overdueDays;
  function passes(layer, p) {
    if (filter.village && (layer === "structure" || layer === "change_patch" ||
        layer === "cleared_parcel" || layer === "farmland_parcel") &&
        p.village_code !== filter.village) return false;
    if (layer === "structure") {
      if (filter.status && p.status !== filter.status) return false;
      if (filter.category && p.category !== filter.category) return false;
      if (filter.since && cfg.sinceDate && !(p.discovered_on && p.discovered_on >= cfg.sinceDate))
        return false;
      if (filter.overdue && !overdueDays(p)) return false;
    }
    if (layer === "change_patch" && filter.since && cfg.sinceDate &&
        !(p.detected_on && p.detected_on >= cfg.sinceDate)) return false;
    return true;
  }

  /* ---- popups ---- */
  var POPUPS = {
    structure: function (p) {
      return "<h4>违法建设 " + esc(p.case_no) + "</h4><table>" +
        row("案件编号", esc(p.case_no)) +
        row("类别", esc(label("category", p.category))) +
        row("状态", esc(label("status", p.status))) +
        row("占地面积", areaText(p.area_m2, p.area_mu)) +
        row("建筑面积", areaText(p.floor_area_m2) + (p.floors ? "（" + esc(p.floors) + " 层）" : "")) +
        row("发现日期", esc(p.discovered_on || "—")) +
        (p.halted_on ? row("制止日期", esc(p.halted_on)) : "") +
        row("责令拆除", esc(p.notice_on || "—")) +
        (p.deadline_on ? row("拆除期限", esc(p.deadline_on) + (overdueDays(p) ?
          '<span class="ge-overdue">（逾期 ' + overdueDays(p) + " 天）</span>" : "")) : "") +
        row("拆除日期", esc(p.demolished_on || "—")) +
        row("所属村", esc(p.village_name || p.village_code || "—")) +
        (p.address ? row("地址", esc(p.address)) : "") + "</table>";
    },
    cleared_parcel: function (p) {
      return "<h4>腾退地块 " + esc(p.parcel_no) + "</h4><table>" +
        row("地块编号", esc(p.parcel_no)) +
        row("面积", areaText(p.area_m2, p.area_mu)) +
        row("原用途", esc(p.prior_use || "—")) +
        row("腾退日期", esc(p.cleared_on || "—")) +
        row("恢复用途", esc(label("restored_use", p.restored_use))) +
        row("所属村", esc(p.village_name || p.village_code || "—")) + "</table>";
    },
    red_line: function (p) {
      return "<h4>" + esc(label("red_line_kind", p.kind)) + "</h4><table>" +
        row("编号", esc(p.code)) + row("名称", esc(p.name || "—")) +
        row("批准文号", esc(p.approval_no || "—")) +
        row("有效期", esc((p.valid_from || "—") + " 至 " + (p.valid_to || "—"))) +
        row("面积", areaText(p.area_m2, p.area_mu)) + "</table>";
    },
    farmland_parcel: function (p) {
      return "<h4>农用地图斑 " + esc(p.patch_code) + "</h4><table>" +
        row("图斑编号", esc(p.patch_code)) +
        row("地类", esc(p.land_class) + " " + esc(label("land_class", p.land_class))) +
        row("永久基本农田", p.is_permanent_basic ? "是" : "否") +
        row("面积", areaText(p.area_m2, p.area_mu)) +
        row("所属村", esc(p.village_name || p.village_code || "—")) + "</table>";
    },
    change_patch: function (p) {
      var hits = [];
      try {
        (JSON.parse(p.rule_hits || "[]") || []).forEach(function (h) {
          if (typeof h === "string") hits.push(label("rule", h));
          else if (h) hits.push((h.label || label("rule", h.rule || h.code || JSON.stringify(h))) +
            (h.distance_m == null ? "" : "（距线 " + fmt(h.distance_m, 1) + " m，安全距离 " +
              fmt(h.safety_distance_m, 1) + " m）"));
        });
      } catch (err) { hits.push(String(p.rule_hits)); }
      var chips = "";
      ["before", "after"].forEach(function (which) {
        var src = chipSrc(p, which);
        if (src) chips += '<figure><img class="ge-chip" alt="' + which + '" src="' + esc(src) +
          '"><figcaption>' + (which === "before" ? "前期影像" : "后期影像") + "</figcaption></figure>";
      });
      return "<h4>变化图斑 " + esc(p.code) + "</h4><table>" +
        row("图斑编号", esc(p.code)) +
        row("认定", esc(p.ruling_shown ? label("ruling", p.ruling_shown) +
          (p.ruling ? "" : "（建议）") : "待认定")) +
        row("状态", esc(label("patch_status", p.status))) +
        row("面积", areaText(p.area_m2, p.area_mu)) +
        row("最大增高", p.height_gain_max_m == null ? "—" : fmt(p.height_gain_max_m, 1) + " m") +
        row("置信度", fmt(p.confidence, 2)) +
        row("规则命中", esc(hits.join("；") || "—")) +
        row("发现日期", esc(p.detected_on || "—")) +
        row("所属村", esc(p.village_name || p.village_code || "—")) + "</table>" +
        (chips ? '<div class="ge-chips">' + chips + "</div>" : "");
    },
    pipeline: function (p) {
      var own = p.safety_distance_m, d = own || GE.safetyDistance(p);
      return "<h4>" + esc(p.kind_label || p.kind) + " " + esc(p.name || p.code) + "</h4><table>" +
        row("名称", esc(p.name || "—")) + row("编号", esc(p.code)) +
        row("类型", esc(p.kind_label || p.kind)) +
        row("安全距离", d ? fmt(d, 1) + " m" + (own ? "" : "（按类型）") : "—") +
        row("权属单位", esc(p.owner || "—")) + (p.spec ? row("规格", esc(p.spec)) : "") +
        row("长度", p.length_m == null ? "—" : fmt(p.length_m, 1) + " m") + "</table>";
    },
    admin_area: function (p) {
      return "<h4>" + esc(p.name) + "</h4><table>" +
        row("级别", esc(label("admin_level", p.level))) + row("代码", esc(p.code)) +
        row("面积", areaText(p.area_m2, p.area_mu)) + "</table>";
    }
  };
  function chipSrc(p, which) {
    if (cfg.chips && cfg.chips[p.id] && cfg.chips[p.id][which]) return cfg.chips[p.id][which];
    if (cfg.chipUrl && p["has_chip_" + which])
      return cfg.chipUrl.replace("{id}", p.id).replace("{which}", which);
    return null;
  }
  GE.popupHtml = function (layer, props) { return POPUPS[layer](props); };

  function openPopup(layer, props, latlng) {
    GE.state.popups += 1;
    GE.state.lastPopup = { layer: layer, id: props.id, props: props };
    var html = POPUPS[layer](props);
    // GE.popupExtras(layer, props, element): more in the popup (capture.js: 取证 on a case)
    if (GE.phone) {
      openSheet(html, latlng);
      if (GE.popupExtras) GE.popupExtras(layer, props, sheet.querySelector(".ge-sheet-content"));
      return;
    }
    var popup = L.popup({ maxWidth: 420, className: "ge-popup", autoPan: false })
      .setLatLng(latlng).setContent(html).openOn(map);
    if (GE.popupExtras) GE.popupExtras(layer, props, popup.getElement().querySelector(".leaflet-popup-content"));
    clearOfControls(popup);
  }

  /* Pan an open popup into the map and clear of every visible control (the 卷帘对比 panel,
   * the layer control, the legend…): each step takes, of the shifts that clear one control
   * and keep the popup inside the map, the one leaving the fewest controls under it, then the
   * smallest (so a popup between two panels of a column does not swing back and forth). */
  function clearOfControls(popup) {
    var el = popup.getElement();
    if (!el) return;
    var mb = map.getContainer().getBoundingClientRect(), M = 8;
    var ctrls = [];
    map.getContainer().querySelectorAll(".leaflet-control").forEach(function (c) {
      var r = c.getBoundingClientRect();
      if (c.getClientRects().length && r.width && r.height) ctrls.push(r);
    });
    var r = el.getBoundingClientRect();
    var dx = Math.max(0, mb.left + M - r.left) || -Math.max(0, r.right - (mb.right - M));
    var dy = Math.max(0, mb.top + M - r.top) || -Math.max(0, r.bottom - (mb.bottom - M));
    if (dx || dy) map.panBy([-dx, -dy], { animate: false });
    for (var step = 0; step < 4; step++) {
      r = el.getBoundingClientRect();
      var best = null;
      ctrls.forEach(function (c) {
        if (!(r.left < c.right && c.left < r.right && r.top < c.bottom && c.top < r.bottom)) return;
        [[c.right + M - r.left, 0], [c.left - M - r.right, 0],
         [0, c.bottom + M - r.top], [0, c.top - M - r.bottom]].forEach(function (o) {
          if (r.left + o[0] < mb.left || r.right + o[0] > mb.right ||
              r.top + o[1] < mb.top || r.bottom + o[1] > mb.bottom) return;
          var d = Math.abs(o[0]) + Math.abs(o[1]), n = 0;
          ctrls.forEach(function (k) {
            if (r.left + o[0] < k.right && k.left < r.right + o[0] &&
                r.top + o[1] < k.bottom && k.top < r.bottom + o[1]) n += 1;
          });
          if (!best || n < best.n || (n === best.n && d < best.d)) best = { n: n, d: d, o: o };
        });
      });
      if (!best) return;
      map.panBy([-best.o[0], -best.o[1]], { animate: false });
    }
  }

  /* How far the top-left and top-right control columns reach into the map (container px). */
  function controlPadding() {
    var mb = map.getContainer().getBoundingClientRect(), c = map._controlCorners;
    function extent(corner, left) {
      var v = 0;
      Array.prototype.forEach.call(corner.children, function (el) {
        var r = el.getBoundingClientRect();
        if (!r.width || !r.height) return;
        v = Math.max(v, left ? r.right - mb.left : mb.right - r.left);
      });
      return v;
    }
    return { topLeft: L.point(extent(c.topleft, true) + 10, 10),
             bottomRight: L.point(extent(c.topright, false) + 10, 10) };
  }
  GE.controlPadding = controlPadding;

  /* phone: the popup is a bottom sheet above every control; the tapped point stays in view */
  var sheet = null;
  function openSheet(html, latlng) {
    if (!sheet) {
      sheet = L.DomUtil.create("div", "ge-sheet ge-popup", map.getContainer());
      stopClicks(sheet);
      L.DomEvent.on(sheet, "touchstart touchmove pointerdown", L.DomEvent.stopPropagation);
    }
    sheet.innerHTML = '<a href="#" class="ge-sheet-close" role="button" title="关闭">×</a>' +
      '<div class="ge-sheet-content">' + html + "</div>";
    L.DomEvent.on(sheet.querySelector(".ge-sheet-close"), "click", function (ev) {
      L.DomEvent.preventDefault(ev);
      GE.closeSheet();
    });
    sheet.classList.add("ge-open");
    GE.state.sheet = true;
    var p = map.latLngToContainerPoint(latlng), H = map.getSize().y, h = sheet.offsetHeight;
    if (p.y > H - h - 24) map.panBy([0, p.y - (H - h) / 2], { animate: false });
  }
  GE.closeSheet = function () {
    if (sheet) sheet.classList.remove("ge-open");
    GE.state.sheet = false;
  };

  /* ---- vector-tile layers ---- */
  var OfflineProtobuf = L.VectorGrid.Protobuf.extend({
    _getVectorTilePromise: function (coords) {
      var key = coords.z + "/" + coords.x + "/" + coords.y;
      var b64 = (cfg.offlineTiles[this.options.geLayer] || {})[key];
      if (!b64) return Promise.resolve({ layers: {} });
      this._url = "data:application/x-protobuf;base64," + b64;
      return L.VectorGrid.Protobuf.prototype._getVectorTilePromise.call(this, coords);
    }
  });

  function grid(name, options) {
    if (cfg.mode === "offline") {
      options.maxNativeZoom = cfg.offlineMaxZoom;
      return new OfflineProtobuf("", options);
    }
    options.fetchOptions = { credentials: "same-origin" };
    // the opening view asks for the structures first: until their visible tiles have loaded the
    // other layers' tiles go at low priority, so the browser's six connections serve the dense
    // structure tiles before the rest (docs/benchmarks.md, first render)
    if (name !== "structure" && !GE.state.loaded.structure) options.fetchOptions.priority = "low";
    return L.vectorGrid.protobuf(cfg.tileUrl.replace("{layer}", name), options);
  }
  // a line's safety distance (m): its own, else its kind's from the catalogue
  GE.safetyDistance = function (p) {
    var st = cfg.styles.pipeline || {};
    return p.safety_distance_m || (st.safety_distances_m || {})[p.kind] || null;
  };
  /* The safety zone around each line: a translucent stroke as wide as twice the safety distance
   * at the tile's zoom (metres per pixel at the township's latitude), from zoom 16 where it is
   * wider than the line. Drawn from the same tiles, below the lines, not clickable. */
  function safetyZone(name) {
    var lat = (cfg.bounds[1] + cfg.bounds[3]) / 2, styles = {};
    styles[name] = function (props, z) {
      var d = GE.safetyDistance(props);
      if (!d || !passes(name, props)) return [];
      GE.state.drawn[name + "_zone"] = (GE.state.drawn[name + "_zone"] || 0) + 1;
      var mpp = 40075016.686 * Math.cos(lat * Math.PI / 180) / (256 * Math.pow(2, z));
      return { color: styleFor(name, props).color, opacity: 0.22, weight: 2 * d / mpp,
               lineCap: "round", lineJoin: "round", fill: false };
    };
    return grid(name, { vectorTileLayerStyles: styles, interactive: false, pane: "overlayPane",
                        rendererFactory: L.canvas.tile, maxZoom: 22, minZoom: 16,
                        geLayer: name });
  }

  GE.vectorLayer = function (name) {
    var seen = {};
    GE.state.tiles[name] = 0;
    GE.state.drawn[name] = 0;
    var styles = {};
    styles[name] = function (props) {
      if (!passes(name, props)) return [];
      if (!seen[props.id]) {
        seen[props.id] = true;
        GE.state.drawn[name] += 1;
        if (!GE.state.firstDraw[name]) GE.state.firstDraw[name] = performance.now();
      }
      return styleFor(name, props);
    };
    var options = {
      vectorTileLayerStyles: styles,
      // interactive: features keep their pixel bounds for GE.hitTest; the canvas itself takes
      // no pointer events, so one map click handler serves every layer, top layer first
      interactive: true,
      pane: name === "admin_area" ? "geAdminPane" : "overlayPane",
      // canvas: 100,000 structures draw in a fraction of the time SVG needs
      rendererFactory: L.canvas.tile,
      getFeatureId: function (f) { return f.properties.id; },
      maxZoom: 22,
      minZoom: cfg.minZoom[name] || 0,
      geLayer: name
    };
    // a line is a few pixels wide: clicks within this many more pixels of it find it
    if (cfg.styles[name].geometry === "line") options.tolerance = GE.phone ? 10 : 5;
    var layer = grid(name, options);
    layer.on("tileload", function () { GE.state.tiles[name] += 1; });
    layer.on("tileerror", function () { GE.state.tileErrors += 1; });
    layer.on("load", function () {
      if (!GE.state.loaded[name]) GE.state.loaded[name] = performance.now();
      if (name === "structure") openingDrawn();
    });
    // a click on a drawn feature of the topmost canvas stops there (VectorGrid marks it
    // handled): answer it the same way as a click anywhere else on the map
    layer.on("click", function (e) { onMapClick(e); });
    layer.geSeen = seen;
    layers[name] = layer;
    if (name === "admin_area") return L.layerGroup([layer, villageLabels()]);
    if (cfg.styles[name].safety_distances_m) {
      layer.geZone = safetyZone(name);
      return L.layerGroup([layer.geZone, layer]);
    }
    return layer;
  };

  /* The feature under ``latlng``, top layer first: {layer, props} or null. Reads the drawn
   * features of the vector tile under the point (VectorGrid keeps them per tile). */
  var HIT_ORDER = ["change_patch", "structure", "pipeline", "cleared_parcel", "red_line",
                   "farmland_parcel", "admin_area"];
  GE.hitTest = function (latlng) {
    for (var i = 0; i < HIT_ORDER.length; i++) {
      var name = HIT_ORDER[i], l = layers[name];
      if (!l || !map.hasLayer(l) || l._tileZoom == null) continue;
      var z = l._tileZoom, size = l.getTileSize();
      var pp = map.project(latlng, z);
      var coords = pp.unscaleBy(size).floor();
      coords.z = z;
      var renderer = l._vectorTiles && l._vectorTiles[l._tileCoordsToKey(coords)];
      if (!renderer) continue;
      var pt = pp.subtract(coords.scaleBy(size));
      var found = null;
      for (var id in renderer._layers) {
        var f = renderer._layers[id];
        if (f.properties && f._pxBounds && f._containsPoint && f._containsPoint(pt)) found = f;
      }
      if (found) return { layer: name, props: found.properties };
    }
    return null;
  };

  var lastClick = null, swipeDrag = false;
  function onMapClick(e) {
    if (GE.measuring || swipeDrag || !e.latlng) return;
    var stamp = e.originalEvent ? e.originalEvent.timeStamp : null;
    if (stamp !== null && stamp === lastClick) return; // the same DOM click seen twice
    lastClick = stamp;
    var hit = GE.hitTest(e.latlng);
    if (hit) openPopup(hit.layer, hit.props, e.latlng);
    else if (GE.phone) GE.closeSheet();
  }

  function villageLabels() {
    var group = L.layerGroup();
    (cfg.villages || []).forEach(function (v) {
      if (v.label_lat == null) return;
      L.marker([v.label_lat, v.label_lon], {
        interactive: false, keyboard: false,
        icon: L.divIcon({ className: "ge-village-label", html: esc(v.name), iconSize: null })
      }).addTo(group);
    });
    return group;
  }

  /* ---- offline orthophoto: a grid layer cut from one downsampled Web Mercator image ---- */
  var R = 6378137;
  function merc(lat, lon) {
    var y = Math.log(Math.tan(Math.PI / 4 + (lat * Math.PI) / 360)) * R;
    return [(lon * Math.PI * R) / 180, y];
  }
  GE.OverviewLayer = L.GridLayer.extend({
    initialize: function (src, bounds, options) {
      L.setOptions(this, options);
      this._img = new Image();
      this._bounds = bounds; // [w, s, e, n] degrees
      var self = this;
      this._ready = new Promise(function (resolve) {
        self._img.onload = resolve;
        self._img.onerror = resolve;
      });
      this._img.src = src;
      this.options.bounds = L.latLngBounds([bounds[1], bounds[0]], [bounds[3], bounds[2]]);
    },
    createTile: function (coords, done) {
      var tile = document.createElement("canvas");
      var size = this.getTileSize();
      tile.width = size.x;
      tile.height = size.y;
      var img = this._img, b = this._bounds;
      this._ready.then(function () {
        var sw = merc(b[1], b[0]), ne = merc(b[3], b[2]);
        var n = Math.pow(2, coords.z), span = 2 * Math.PI * R / n;
        var tx0 = -Math.PI * R + coords.x * span, ty0 = Math.PI * R - coords.y * span;
        var sx = img.naturalWidth / (ne[0] - sw[0]), sy = img.naturalHeight / (ne[1] - sw[1]);
        var ix = (tx0 - sw[0]) * sx, iy = (ne[1] - ty0) * sy;
        var ctx = tile.getContext("2d");
        if (img.naturalWidth) ctx.drawImage(img, ix, iy, span * sx, span * sy, 0, 0, size.x, size.y);
        done(null, tile);
      });
      return tile;
    }
  });
  GE.orthoOverview = function (src, bounds) {
    return new GE.OverviewLayer(src, bounds, { maxZoom: 22 });
  };

  /* ---- which layer shows which flight; choosing the swipe's two flights ---- */
  GE.orthoLayers = {};
  function hookSwipe() {
    // dragging the swipe handle ends with a click on the map: that click is not a pick
    if (GE.swipe && GE.swipe._range && !GE.swipe._range.geHooked) {
      GE.swipe._range.geHooked = true;
      L.DomEvent.on(GE.swipe._range, "mousedown touchstart", function () { swipeDrag = true; });
    }
  }
  L.DomEvent.on(document, "mouseup touchend", function () {
    setTimeout(function () { swipeDrag = false; }, 0);
  });
  GE.registerOrtho = function (pairs, swipe) {
    pairs.forEach(function (p) { GE.orthoLayers[p[0]] = p[1]; });
    GE.swipe = swipe;
    GE.state.swipeOn = !!(swipe && swipe._map);
    hookSwipe();
    if (swipe && (cfg.flights || []).length >= 2) swipeChooser().addTo(map);
    applyLayout(GE.phone, true);
  };
  /* the swipe on or off (off: the later flight of the pair covers the earlier one) */
  GE.setSwipeOn = function (on) {
    if (!GE.swipe) return false;
    var isOn = !!GE.swipe._map;
    if (on && !isOn) {
      GE.swipe.addTo(map);
      hookSwipe();
    } else if (!on && isOn) {
      GE.swipe.remove();
    }
    GE.state.swipeOn = on;
    return true;
  };
  GE.setSwipe = function (leftId, rightId) {
    var left = GE.orthoLayers[leftId], right = GE.orthoLayers[rightId];
    if (!GE.swipe || !left || !right || leftId === rightId) return false;
    Object.keys(GE.orthoLayers).forEach(function (id) {
      var l = GE.orthoLayers[id];
      if (l !== left && l !== right && map.hasLayer(l)) map.removeLayer(l);
    });
    [left, right].forEach(function (l) {
      l.getContainer && l.getContainer() && (l.getContainer().style.clip = "");
      if (!map.hasLayer(l)) map.addLayer(l);
    });
    GE.swipe.setLeftLayers(left);
    GE.swipe.setRightLayers(right);
    GE.state.swipe = [leftId, rightId];
    return true;
  };
  function swipeChooser() {
    return control("topleft", "swipe", function (div) {
      div.className += " ge-swipe";
      var fl = cfg.flights, n = fl.length;
      function sel(id, chosen) {
        return '<select id="' + id + '">' + fl.map(function (f) {
          return '<option value="' + f.id + '"' + (f.id === chosen ? " selected" : "") + ">" +
            esc(f.flown_on + " " + f.name) + "</option>";
        }).join("") + "</select>";
      }
      div.innerHTML = "<b>卷帘对比</b><br>左（前期）" + sel("ge-swipe-left", fl[n - 2].id) +
        "右（后期）" + sel("ge-swipe-right", fl[n - 1].id);
      GE.state.swipe = [fl[n - 2].id, fl[n - 1].id];
      div.addEventListener("change", function () {
        GE.setSwipe(Number(div.querySelector("#ge-swipe-left").value),
                    Number(div.querySelector("#ge-swipe-right").value));
      });
    });
  }

  /* ---- controls ---- */
  /* Clicks, taps and wheels on our controls stay there. Leaflet's own
   * disableClickPropagation lets the click bubble to the map, whose touch double-tap
   * detection then counts two quick taps on two buttons as a double tap and zooms. */
  function stopClicks(el) {
    L.DomEvent.disableClickPropagation(el);
    L.DomEvent.disableScrollPropagation(el);
    L.DomEvent.on(el, "click", L.DomEvent.stopPropagation);
  }

  /* A control of ours; with a ``key`` it is a panel: one button of the phone toolbar opens it. */
  var panels = {};
  function control(position, key, build) {
    var C = L.Control.extend({
      options: { position: position },
      onAdd: function () {
        var div = L.DomUtil.create("div", "ge-control leaflet-bar");
        stopClicks(div);
        build(div);
        if (key) {
          div.classList.add("ge-panel");
          div.setAttribute("data-panel", key);
          panels[key] = { div: div, position: position };
        }
        return div;
      }
    });
    return new C();
  }

  /* ---- phone layout: one toolbar, one panel open at a time, popups as a bottom sheet ---- */
  var TOOLS = [["search", "搜索"], ["filter", "筛选"], ["measure", "量算"], ["swipe", "卷帘"],
               ["today", "今日"], ["capture", "巡查"], ["offline", "离线"], ["legend", "图例"]];
  var toolbar = null, panelHost = null;
  function buildToolbar() {
    toolbar = L.DomUtil.create("div", "ge-toolbar leaflet-bar leaflet-control");
    toolbar.setAttribute("role", "toolbar");
    panelHost = L.DomUtil.create("div", "ge-panel-host leaflet-control");
    [toolbar, panelHost].forEach(stopClicks);
    TOOLS.forEach(function (t) {
      var b = L.DomUtil.create("a", "ge-tool", toolbar);
      b.href = "#";
      b.setAttribute("role", "button");
      b.setAttribute("data-tool", t[0]);
      b.title = t[1];
      b.textContent = t[1];
      L.DomEvent.on(b, "click", function (ev) {
        L.DomEvent.preventDefault(ev);
        GE.togglePanel(t[0]);
      });
    });
  }
  /* phone: open the panel ``key`` (closing the open one), or close it when it is open;
   * the swipe is on and the measure tool takes taps only while their panel is open */
  GE.togglePanel = function (key) {
    var was = GE.state.panel;
    GE.closePanels();
    if (was === key || !panels[key]) return;
    panels[key].div.classList.add("ge-open");
    toolbar.querySelector('[data-tool="' + key + '"]').classList.add("active");
    GE.state.panel = key;
    if (key === "swipe") GE.setSwipeOn(true);
    if (key === "measure") GE.setMeasuring(true);
    if (key === "search") panels.search.div.querySelector("input").focus();
    if (key === "today" || key === "capture" || key === "offline")
      panels[key].div.querySelector("details").open = true;
  };
  GE.closePanels = function () {
    var was = GE.state.panel;
    Object.keys(panels).forEach(function (k) { panels[k].div.classList.remove("ge-open"); });
    if (toolbar) Array.prototype.forEach.call(toolbar.children, function (b) { b.classList.remove("active"); });
    GE.state.panel = null;
    if (was === "swipe") GE.setSwipeOn(false);
    if (was === "measure" && GE.setMeasuring) GE.setMeasuring(false);
  };
  /* put the panels in the toolbar (phone) or back in their map corners (desktop) */
  function applyLayout(phone, force) {
    if (!force && phone === GE.phone) return;
    GE.phone = phone;
    map.getContainer().classList.toggle("ge-phone", phone);
    var corners = map._controlCorners;
    GE.closePanels();
    if (phone) {
      if (!toolbar) buildToolbar();
      corners.topleft.insertBefore(panelHost, corners.topleft.firstChild);
      corners.topleft.insertBefore(toolbar, panelHost);
      TOOLS.forEach(function (t) {
        var b = toolbar.querySelector('[data-tool="' + t[0] + '"]');
        b.style.display = panels[t[0]] ? "" : "none";
        if (panels[t[0]]) panelHost.appendChild(panels[t[0]].div);
      });
      GE.setSwipeOn(false);
    } else {
      if (toolbar) { L.DomUtil.remove(toolbar); L.DomUtil.remove(panelHost); }
      TOOLS.forEach(function (t) {
        var p = panels[t[0]], corner = p && corners[p.position];
        if (!p || p.div.parentNode === corner) return;
        if (p.position.indexOf("bottom") === 0) corner.insertBefore(p.div, corner.firstChild);
        else corner.appendChild(p.div);
      });
      GE.setSwipeOn(true);
    }
  }
  GE.applyLayout = applyLayout;
  function options(vocabName, values, all) {
    var html = '<option value="">' + all + "</option>";
    values.forEach(function (k) { html += '<option value="' + esc(k) + '">' + esc(label(vocabName, k)) + "</option>"; });
    return html;
  }
  function redrawFiltered() {
    ["structure", "change_patch", "cleared_parcel", "farmland_parcel"].forEach(function (n) {
      var l = layers[n];
      if (!l) return;
      Object.keys(l.geSeen).forEach(function (k) { delete l.geSeen[k]; });
      GE.state.drawn[n] = 0;
      if (map.hasLayer(l)) l.redraw();
    });
  }
  GE.setFilter = function (f) { Object.assign(filter, f); redrawFiltered(); };

  function filterControl() {
    return control("topleft", "filter", function (div) {
      div.className += " ge-filter";
      var villages = (cfg.villages || []).filter(function (v) { return v.level === "village" || v.level === "community"; });
      var vopts = '<option value="">全部村/社区</option>' + villages.map(function (v) {
        return '<option value="' + esc(v.code) + '">' + esc(v.name) + "</option>";
      }).join("");
      div.innerHTML = "<b>筛选</b>" +
        '<select id="ge-f-village" title="村">' + vopts + "</select>" +
        '<select id="ge-f-status" title="状态">' + options("status", Object.keys(cfg.vocab.status), "全部状态") + "</select>" +
        '<select id="ge-f-category" title="类别">' + options("category", Object.keys(cfg.vocab.category), "全部类别") + "</select>" +
        (cfg.sinceDate ? '<label><input type="checkbox" id="ge-f-since"> 上次航飞（' + esc(cfg.sinceDate) + "）以来</label>" : "") +
        '<label><input type="checkbox" id="ge-f-overdue"> 仅逾期（拆除期限已过）</label>';
      div.addEventListener("change", function () {
        GE.setFilter({
          village: div.querySelector("#ge-f-village").value,
          status: div.querySelector("#ge-f-status").value,
          category: div.querySelector("#ge-f-category").value,
          since: !!(div.querySelector("#ge-f-since") || {}).checked,
          overdue: div.querySelector("#ge-f-overdue").checked
        });
        var v = filter.village && (cfg.villages || []).filter(function (x) { return x.code === filter.village; })[0];
        if (v && v.bbox) map.fitBounds([[v.bbox[1], v.bbox[0]], [v.bbox[3], v.bbox[2]]]);
      });
    });
  }

  function searchControl() {
    return control("topleft", "search", function (div) {
      div.className += " ge-search";
      div.innerHTML = '<input id="ge-search" type="search" placeholder="案件编号、图斑编号、村名或地址">' +
        '<div class="ge-search-results"></div>';
      var input = div.querySelector("input"), out = div.querySelector(".ge-search-results");
      function show(results) {
        out.innerHTML = "";
        if (!results.length) { out.textContent = "无结果"; return; }
        results.slice(0, 10).forEach(function (r) {
          var a = L.DomUtil.create("a", "ge-search-hit", out);
          a.href = "#";
          a.textContent = r.label;
          a.onclick = function (ev) {
            ev.preventDefault();
            out.innerHTML = "";
            GE.showFound(r.bbox);
          };
        });
      }
      /* frame a found feature where a tap or click reaches it: on a phone the panel closes;
       * on a desktop it lands clear of the control columns and, with the swipe on, in the
       * middle of the later flight's side, never under the swipe handle */
      GE.showFound = function (b) {
        if (GE.phone) GE.closePanels();
        var bounds = L.latLngBounds([[b[1], b[0]], [b[3], b[2]]]);
        var opts = { maxZoom: 19, animate: false };
        if (!GE.phone) {
          var pad = controlPadding();
          opts.paddingTopLeft = pad.topLeft;
          opts.paddingBottomRight = pad.bottomRight;
          if (GE.state.swipeOn && GE.swipe && GE.swipe._map) {
            var x = GE.swipe.getPosition(), w = map.getSize().x;
            if (w - x < 200) { GE.swipe._range.value = 0.5; GE.swipe._updateClip(); x = GE.swipe.getPosition(); }
            opts.paddingTopLeft = L.point(Math.max(pad.topLeft.x, x + 40), pad.topLeft.y);
          }
        }
        map.fitBounds(bounds, opts);
        var c = map.latLngToContainerPoint(bounds.getCenter());
        GE.state.found = { x: c.x, y: c.y };
        return GE.state.found;
      };
      GE.search = function (q) {
        q = (q || "").trim();
        if (!q) { out.innerHTML = ""; return Promise.resolve([]); }
        if (cfg.searchUrl) {
          return fetch(cfg.searchUrl + "?q=" + encodeURIComponent(q), { credentials: "same-origin" })
            .then(function (r) { return r.ok ? r.json() : []; })
            .then(function (res) { show(res); return res; });
        }
        var ql = q.toLowerCase(), num = numberInVillage(q);
        var res = (cfg.searchIndex || []).filter(function (r) {
          // an address entry matches on its address (its label also names the case)
          var t = r.kind === "address" ? (r.address || "") : r.label;
          if (t.toLowerCase().indexOf(ql) >= 0) return true;
          // 门牌号 in a village: "梨园头村337号", "梨园头 337"
          return !!(num && r.kind === "address" && num.re.test(r.address || "") &&
            ((r.village || "").indexOf(num.place) >= 0 || (r.address || "").indexOf(num.place) >= 0));
        }).slice(0, 10);
        show(res);
        return Promise.resolve(res);
      };
      input.addEventListener("keydown", function (e) { if (e.key === "Enter") GE.search(input.value); });
    });
  }

  /* "<place><number>[号]" → the place and a pattern for the number standing alone in an address
   * (the same reading as geo_enforce.webmap.data.search) */
  function numberInVillage(q) {
    var m = /^(.*?[^\d\s])\s*(\d+)\s*号?$/.exec(q.replace(/\s+$/, ""));
    if (!m) return null;
    return { place: m[1].trim(), re: new RegExp("(^|\\D)" + m[2] + "(\\D|$)") };
  }
  GE.numberInVillage = numberInVillage;

  /* Gauss-Krüger 3-degree zones on CGCS2000 (zone-prefixed easting, as EPSG:4527 for zone 39) */
  function gk(lon, lat) {
    var zone = Math.round(lon / 3);
    var def = "+proj=tmerc +lat_0=0 +lon_0=" + zone * 3 + " +k=1 +x_0=" + (zone * 1e6 + 500000) +
      " +y_0=0 +ellps=GRS80 +units=m +no_defs";
    var xy = proj4("EPSG:4326", def, [lon, lat]);
    return { zone: zone, e: xy[0], n: xy[1], def: def };
  }
  GE.gk = gk;

  function mousePosition() {
    return control("bottomleft", null, function (div) {
      div.className += " ge-mousepos";
      div.textContent = "CGCS2000";
      // a mouse shows where it points; a finger shows where it last tapped, else the centre
      function show(ll, what) {
        var p = gk(ll.lng, ll.lat);
        div.textContent = (what ? what + " " : "") + "CGCS2000 经度 " + ll.lng.toFixed(6) +
          "° 纬度 " + ll.lat.toFixed(6) + "°\n高斯-克吕格 " + p.zone + " 带 E " + p.e.toFixed(2) +
          " N " + p.n.toFixed(2);
      }
      map.on("mousemove", function (e) { if (!GE.phone) show(e.latlng); });
      map.on("click", function (e) { if (GE.phone) show(e.latlng, "点击处"); });
      map.on("moveend", function () { if (GE.phone) show(map.getCenter(), "中心"); });
    });
  }

  /* measure: click vertices, double-click (or 完成) to finish; planar Gauss-Krüger area */
  GE.measureArea = function (latlngs) {
    if (latlngs.length < 3) return 0;
    var pts = latlngs.map(function (ll) { var p = gk(ll.lng, ll.lat); return [p.e, p.n]; });
    var a = 0;
    for (var i = 0; i < pts.length; i++) {
      var j = (i + 1) % pts.length;
      a += pts[i][0] * pts[j][1] - pts[j][0] * pts[i][1];
    }
    return Math.abs(a) / 2;
  };
  function measureControl() {
    return control("topleft", "measure", function (div) {
      div.className += " ge-measure";
      div.innerHTML = '<a href="#" class="ge-measure-btn" role="button" title="量算面积（m² / 亩）">量算</a>' +
        '<a href="#" class="ge-measure-clear" role="button" title="清除量算结果">清除</a>' +
        '<div class="ge-measure-out"></div>';
      var btn = div.querySelector(".ge-measure-btn"), clear = div.querySelector(".ge-measure-clear");
      var out = div.querySelector(".ge-measure-out");
      // fresh: the next vertex starts a new measurement (the last result stays until then)
      var active = false, fresh = true, pts = [], shape = null;
      function update() {
        if (shape) map.removeLayer(shape);
        shape = pts.length > 2 ? L.polygon(pts, { color: "#111", dashArray: "4 4" }) : L.polyline(pts, { color: "#111" });
        shape.addTo(map);
        var len = 0;
        for (var i = 1; i < pts.length; i++) len += map.distance(pts[i - 1], pts[i]);
        var a = GE.measureArea(pts);
        out.innerHTML = "长度 " + fmt(len, 1) + " m<br>面积 " + fmt(a, 1) + " m²（" + fmt(a / M2_PER_MU, 2) +
          " 亩）<br><small>高斯平面面积，非统计口径</small>";
        GE.state.measure = { length_m: len, area_m2: a, area_mu: a / M2_PER_MU };
      }
      function add(ll) {
        if (fresh) { pts = []; fresh = false; }
        pts.push(ll);
        update();
      }
      function click(e) { add(e.latlng); }
      /* on: map clicks add vertices; off: the result (shape and figures) stays until 清除 */
      GE.setMeasuring = function (on) {
        if (on === active) return;
        active = on;
        GE.measuring = on;
        GE.state.measuring = on;
        btn.classList.toggle("active", on);
        if (on) {
          fresh = true;
          if (!pts.length) out.innerHTML = "点击地图添加顶点，再次点击“量算”结束";
          map.doubleClickZoom.disable();
          map.on("click", click);
        } else {
          map.off("click", click);
          map.doubleClickZoom.enable();
          if (!pts.length) out.innerHTML = "";
        }
      };
      GE.measureClear = function () {
        pts = [];
        fresh = true;
        if (shape) { map.removeLayer(shape); shape = null; }
        out.innerHTML = active ? "点击地图添加顶点，再次点击“量算”结束" : "";
        GE.state.measure = null;
      };
      btn.onclick = function (ev) { ev.preventDefault(); GE.setMeasuring(!active); };
      clear.onclick = function (ev) { ev.preventDefault(); GE.measureClear(); };
      GE.measureAdd = function (lat, lon) { add(L.latLng(lat, lon)); };
    });
  }

  /* 今日工作 (served page): overdue cases and patches awaiting a field check, nearest first from
   * the located position (the locate button), else the map centre; a tap frames one; the list
   * in that order exports as a GPX route */
  function fmtDistance(m) {
    if (m == null) return "";
    return m < 1000 ? Math.round(m) + " m" : fmt(m / 1000, 1) + " km";
  }
  function todayControl() {
    return control("topleft", "today", function (div) {
      div.className += " ge-today";
      div.innerHTML = '<details><summary><b>今日工作</b></summary>' +
        '<a href="#" role="button" class="ge-today-btn" data-list="overdue">逾期案件</a>' +
        '<a href="#" role="button" class="ge-today-btn" data-list="patches">待核查图斑</a>' +
        '<div class="ge-today-note"></div><ol class="ge-today-list"></ol>' +
        '<a class="ge-today-gpx" download style="display:none">导出路线 GPX</a></details>';
      var note = div.querySelector(".ge-today-note"), list = div.querySelector(".ge-today-list");
      var gpx = div.querySelector(".ge-today-gpx");
      div.querySelectorAll(".ge-today-btn").forEach(function (b) {
        L.DomEvent.on(b, "click", function (ev) {
          L.DomEvent.preventDefault(ev);
          GE.loadToday(b.getAttribute("data-list"));
        });
      });
      GE.loadToday = function (which) {
        var pos = GE.position || map.getCenter();
        var url = cfg.field[which] + "?lon=" + pos.lng.toFixed(6) + "&lat=" + pos.lat.toFixed(6) +
          (which === "patches" ? "&limit=30" : "");
        note.textContent = "加载中…";
        return fetch(url, { credentials: "same-origin" }).then(function (r) {
          if (!r.ok) throw new Error("HTTP " + r.status);
          return r.json();
        }).then(function (body) {
          var items = which === "overdue" ? body.cases : body, stops = [];
          list.innerHTML = "";
          items.forEach(function (it) {
            var li = L.DomUtil.create("li", "", list), a = L.DomUtil.create("a", "ge-today-item", li);
            a.href = "#";
            a.textContent = (which === "overdue" ?
              it.case_no + " " + (it.village || "") + " 逾期 " + it.days_overdue + " 天" :
              it.code + " " + it.status_label + " " + fmt(it.area_m2, 0) + " m²") +
              (it.distance_m != null ? " · " + fmtDistance(it.distance_m) : "");
            L.DomEvent.on(a, "click", function (ev) {
              L.DomEvent.preventDefault(ev);
              if (GE.phone) GE.closePanels();
              map.setView([it.lat, it.lon], 18);
            });
            stops.push((which === "overdue" ? "structure:" : "change_patch:") + it.id);
          });
          note.textContent = (which === "overdue" ? "逾期案件 " : "待核查图斑 ") + items.length +
            " 处，按距" + (GE.position ? "我的位置" : "地图中心") + "由近到远";
          stops = stops.slice(0, 50);
          gpx.style.display = stops.length ? "" : "none";
          gpx.href = cfg.field.route + "?stops=" + encodeURIComponent(stops.join(","));
          GE.state.today = { which: which, count: items.length, stops: stops };
          return GE.state.today;
        }, function (err) {
          note.textContent = "无法加载（" + err.message + "），请检查网络或登录";
          GE.state.today = { which: which, error: err.message };
          return GE.state.today;
        });
      };
    });
  }

  function legend() {
    return control("bottomright", "legend", function (div) {
      div.className += " ge-legend";
      var html = "<details open><summary><b>图例</b></summary>";
      cfg.legendOrder.forEach(function (name) {
        var st = cfg.styles[name];
        html += '<div class="ge-legend-title">' + esc(st.title) + "</div>";
        var entries = st.by ? Object.keys(st.values) : [""];
        entries.forEach(function (k) {
          var s = Object.assign({}, st["default"], st.by ? st.values[k] : {});
          var lbl = st.by ? (st.values[k].label || k) : st.title;
          var swatch = st.geometry === "line" ? "height:0;border-top:3px solid " + esc(s.color) :
            "background:" + esc(s.fill === false ? "transparent" : (s.fillColor || s.color)) +
            ";border:2px " + (s.dashArray ? "dashed " : "solid ") + esc(s.color);
          html += '<div class="ge-legend-item"><i style="' + swatch + '"></i>' + esc(lbl) + "</div>";
        });
      });
      div.innerHTML = html + "</details>";
    });
  }

  GE.setup = function (leafletMap, config) {
    map = leafletMap;
    cfg = config;
    GE.map = map;
    GE.config = cfg;
    map.createPane("geAdminPane");
    map.getPane("geAdminPane").style.zIndex = 390;
    if (cfg.bounds) map.fitBounds([[cfg.bounds[1], cfg.bounds[0]], [cfg.bounds[3], cfg.bounds[2]]], { animate: false });
    L.control.scale({ metric: true, imperial: false }).addTo(map);
    searchControl().addTo(map);
    filterControl().addTo(map);
    measureControl().addTo(map);
    if (cfg.field) todayControl().addTo(map);
    // the 巡查 form and its offline queue (capture.js, served page only)
    if (cfg.capture && GE.captureControl) GE.captureControl(control).addTo(map);
    // keeping a village for offline use (offline.js, served page with a service worker)
    if (cfg.offline && GE.offlineControl) GE.offlineControl(control).addTo(map);
    map.on("locationfound", function (e) { GE.position = e.latlng; });
    mousePosition().addTo(map);
    legend().addTo(map);
    map.attributionControl.setPrefix("geo-enforce · Leaflet");
    // phone: a tap on the (shortened) attribution shows all of it
    L.DomEvent.on(map.attributionControl.getContainer(), "click", function () {
      map.attributionControl.getContainer().classList.toggle("ge-expanded");
    });
    map.on("click", onMapClick);
    // phones (≤ 600 px wide) get the toolbar layout; a rotated tablet switches over
    var mq = window.matchMedia ? window.matchMedia("(max-width: 600px)") : null;
    applyLayout(!!(mq && mq.matches), true);
    if (mq && mq.addEventListener) mq.addEventListener("change", function (e) { applyLayout(e.matches); });
    if (GE.phone) map.fire("moveend");
    GE.state.worker = null;
    setTimeout(openingDrawn, 8000);
  };

  /* The structures of the opening view have drawn (or 8 s passed): the other layers' tiles go
   * at normal priority again and the service worker is registered, so its install (the app
   * shell) and its copies of the tiles do not compete with the first render. */
  var opening = true;
  function openingDrawn() {
    if (!opening) return;
    opening = false;
    Object.keys(layers).forEach(function (n) {
      var fo = layers[n].options.fetchOptions;
      if (fo) delete fo.priority;
      if (layers[n].geZone && layers[n].geZone.options.fetchOptions)
        delete layers[n].geZone.options.fetchOptions.priority;
    });
    registerWorker();
  }

  /* served page: the service worker keeps the app shell (and the map data seen) for offline
   * use; browsers without one (or an insecure origin) simply go without */
  function registerWorker() {
    GE.state.worker = null;
    if (!cfg.worker || !("serviceWorker" in navigator)) return;
    navigator.serviceWorker.register(cfg.worker.url, { scope: cfg.worker.scope }).then(
      function () { GE.state.worker = "registered"; },
      function (err) { GE.state.worker = "failed: " + err; console.warn("service worker:", err); });
  }
})();
