// Tracking page: the route map.
//
// Offline (always drawn first, no request leaves this server): an SVG schematic projected
// from coordinates — a graticule, faint province names, labelled reference cities, the
// warehouse (origin), the places the carrier reported, the destination, and the route with
// the travelled part solid and the rest dotted; a pulsing dot where the parcel is now.
// With an Amap key (data-amap-src on #map), the Amap JS API is loaded and, once it is
// there, draws the same route on a live map; if it cannot load, the schematic stays.
(function () {
  "use strict";

  var SVGNS = "http://www.w3.org/2000/svg";
  var MIN_SPAN_DEG = 0.5;      // never zoom closer than ~55 km tall: keeps the region visible
  var MARKER_GAP = 30;         // px: origin and destination are drawn at least this far apart
  var PAD = { top: 40, right: 44, bottom: 40, left: 44 };
  var amapActive = false;

  // ---- helpers ------------------------------------------------------------------------
  function el(name, attrs, parent) {
    var node = document.createElementNS(SVGNS, name);
    for (var k in attrs) {
      if (Object.prototype.hasOwnProperty.call(attrs, k)) node.setAttribute(k, String(attrs[k]));
    }
    if (parent) parent.appendChild(node);
    return node;
  }

  function text(parent, x, y, value, cls, anchor) {
    var t = el("text", { x: x.toFixed(1), y: y.toFixed(1), "class": cls }, parent);
    if (anchor) t.setAttribute("text-anchor", anchor);
    t.textContent = value;
    return t;
  }

  function textWidth(value, size, spacing) {
    var w = 0;
    for (var i = 0; i < value.length; i++) {
      w += value.charCodeAt(i) > 0x2e80 ? size : size * 0.6;
    }
    return w + (spacing || 0) * Math.max(0, value.length - 1);
  }

  function Occupied() { this.rects = []; }
  Occupied.prototype.free = function (r) {
    for (var i = 0; i < this.rects.length; i++) {
      var o = this.rects[i];
      if (r.x < o.x + o.w && r.x + r.w > o.x && r.y < o.y + o.h && r.y + r.h > o.y) return false;
    }
    return true;
  };
  Occupied.prototype.add = function (r) { this.rects.push(r); return r; };

  function inside(r, w, h) { return r.x >= 2 && r.y >= 2 && r.x + r.w <= w - 2 && r.y + r.h <= h - 2; }

  function degLabel(v, pos, neg) {
    var a = Math.abs(v), d = Math.floor(a + 1e-9), m = Math.round((a - d) * 60);
    if (m === 60) { d += 1; m = 0; }
    return d + "°" + (m ? m + "′" : "") + (v >= 0 ? pos : neg);
  }

  // ---- projection ---------------------------------------------------------------------
  function fit(points, w, h) {
    var minLat = Infinity, maxLat = -Infinity, minLon = Infinity, maxLon = -Infinity;
    points.forEach(function (p) {
      minLat = Math.min(minLat, p.lat); maxLat = Math.max(maxLat, p.lat);
      minLon = Math.min(minLon, p.lon); maxLon = Math.max(maxLon, p.lon);
    });
    var cLat = (minLat + maxLat) / 2, cLon = (minLon + maxLon) / 2;
    var kx = Math.cos(cLat * Math.PI / 180);
    var spanY = Math.max(maxLat - minLat, MIN_SPAN_DEG);
    var spanX = Math.max((maxLon - minLon) * kx, MIN_SPAN_DEG * 0.8);
    var availW = w - PAD.left - PAD.right, availH = h - PAD.top - PAD.bottom;
    var scale = Math.min(availW / spanX, availH / spanY);
    var cx = PAD.left + availW / 2, cy = PAD.top + availH / 2;
    return {
      scale: scale,
      project: function (lat, lon) { return [cx + (lon - cLon) * kx * scale, cy - (lat - cLat) * scale]; },
      lat: function (y) { return cLat - (y - cy) / scale; },
      lon: function (x) { return cLon + (x - cx) / (kx * scale); }
    };
  }

  // Push markers that would sit on top of each other apart (same-city deliveries).
  function spread(a, b) {
    var dx = b[0] - a[0], dy = b[1] - a[1], d = Math.sqrt(dx * dx + dy * dy);
    if (d >= MARKER_GAP) return;
    if (d < 0.01) { dx = 1; dy = 0; d = 1; }
    var push = (MARKER_GAP - d) / 2;
    a[0] -= dx / d * push; a[1] -= dy / d * push;
    b[0] += dx / d * push; b[1] += dy / d * push;
  }

  // Smooth path through points (Catmull-Rom as cubic Béziers), segments [from, to).
  function curve(pts, from, to) {
    if (to <= from) return "";
    if (pts.length === 2) {  // a single leg: a gentle arc reads as a route, not a ruler line
      var a = pts[0], b = pts[1], dx = b[0] - a[0], dy = b[1] - a[1];
      var len = Math.sqrt(dx * dx + dy * dy) || 1, bend = Math.min(len * 0.16, 36);
      var c = [(a[0] + b[0]) / 2 - dy / len * bend, (a[1] + b[1]) / 2 + dx / len * bend];
      return "M" + a[0].toFixed(1) + " " + a[1].toFixed(1) + " Q" + c[0].toFixed(1) + " " +
        c[1].toFixed(1) + " " + b[0].toFixed(1) + " " + b[1].toFixed(1);
    }
    var d = "M" + pts[from][0].toFixed(1) + " " + pts[from][1].toFixed(1);
    for (var i = from; i < to; i++) {
      var p0 = pts[Math.max(0, i - 1)], p1 = pts[i], p2 = pts[i + 1], p3 = pts[Math.min(pts.length - 1, i + 2)];
      var c1 = [p1[0] + (p2[0] - p0[0]) / 6, p1[1] + (p2[1] - p0[1]) / 6];
      var c2 = [p2[0] - (p3[0] - p1[0]) / 6, p2[1] - (p3[1] - p1[1]) / 6];
      d += " C" + c1[0].toFixed(1) + " " + c1[1].toFixed(1) + " " + c2[0].toFixed(1) + " " +
        c2[1].toFixed(1) + " " + p2[0].toFixed(1) + " " + p2[1].toFixed(1);
    }
    return d;
  }

  // ---- the offline map ----------------------------------------------------------------
  function drawOffline(box, data) {
    var w = Math.max(box.clientWidth, 240), h = Math.max(box.clientHeight, 180);
    var all = [];
    data.origins.forEach(function (p) { all.push(p); });
    if (data.dest) all.push(data.dest);
    data.routes.forEach(function (r) { r.points.forEach(function (p) { all.push(p); }); });
    if (!all.length) return;
    var view = fit(all, w, h);
    var occupied = new Occupied();

    var svg = el("svg", { viewBox: "0 0 " + w + " " + h, width: w, height: h, id: "map-svg",
                          "class": "offline-map", focusable: "false" });
    var layers = {};
    ["bg", "grid", "province", "city", "route", "hub", "marker", "label", "deco"].forEach(function (n) {
      layers[n] = el("g", { "class": "layer-" + n }, svg);
    });
    el("rect", { x: 0, y: 0, width: w, height: h, "class": "m-bg" }, layers.bg);
    box.textContent = "";
    box.appendChild(svg);  // attached now: route paths are measured below

    // Province borders from the packaged outlines (messages/web/geo/, MIT): real shapes
    // beneath everything else, so the map is no longer an empty grid.
    (data.outlines || []).forEach(function (p) {
      var d = "";
      p.rings.forEach(function (ring) {
        ring.forEach(function (pt, i) {
          var xy = view.project(pt[1], pt[0]);
          d += (i ? "L" : "M") + xy[0].toFixed(1) + "," + xy[1].toFixed(1);
        });
        d += "Z";
      });
      var path = el("path", { d: d, "class": p.kind === "city" ? "m-outline-city" : "m-outline",
                              "data-name": p.name }, layers.province);
      el("title", {}, path).textContent = p.name;
    });

    // Graticule: 3 to 5 lines across the height.
    var spanLat = h / view.scale, steps = [0.1, 0.2, 0.25, 0.5, 1, 2, 5, 10], step = steps[steps.length - 1];
    for (var s = 0; s < steps.length; s++) { if (spanLat / steps[s] <= 5) { step = steps[s]; break; } }
    var gridLabels = [];  // drawn last, where nothing else is
    var top = view.lat(0), bottom = view.lat(h), left = view.lon(0), right = view.lon(w);
    for (var la = Math.ceil(bottom / step) * step; la <= top; la += step) {
      var y = view.project(la, left)[1];
      el("line", { x1: 0, y1: y.toFixed(1), x2: w, y2: y.toFixed(1), "class": "m-grid" }, layers.grid);
      if (y > 22 && y < h - 30) gridLabels.push([4, y - 3, degLabel(la, "N", "S")]);
    }
    for (var lo = Math.ceil(left / step) * step; lo <= right; lo += step) {
      var x = view.project(top, lo)[0];
      el("line", { x1: x.toFixed(1), y1: 0, x2: x.toFixed(1), y2: h, "class": "m-grid" }, layers.grid);
      if (x > 30 && x < w - 60) gridLabels.push([x + 3, 11, degLabel(lo, "E", "W")]);
    }

    // Markers first: their places are taken before any label is placed.
    var dest = data.dest ? view.project(data.dest.lat, data.dest.lon) : null;
    var origins = data.origins.map(function (o) { return { o: o, xy: view.project(o.lat, o.lon) }; });
    origins.forEach(function (o) { if (dest) spread(o.xy, dest); });
    for (var i = 0; i < origins.length; i++) {
      for (var j = i + 1; j < origins.length; j++) spread(origins[i].xy, origins[j].xy);
    }
    function placeOf(p) {
      if (data.dest && p === data.dest) return dest;
      for (var k = 0; k < origins.length; k++) {
        if (origins[k].o.lat === p.lat && origins[k].o.lon === p.lon && p.kind === "origin") return origins[k].xy;
      }
      return view.project(p.lat, p.lon);
    }
    origins.forEach(function (o) { occupied.add({ x: o.xy[0] - 12, y: o.xy[1] - 12, w: 24, h: 24 }); });
    if (dest) occupied.add({ x: dest[0] - 12, y: dest[1] - 32, w: 24, h: 34 });

    // Labels keep off the route: its course is taken in small squares.
    function reserveAlong(path, parent) {
      parent.appendChild(path);
      var total = 0;
      try { total = path.getTotalLength(); } catch (e) { total = 0; }
      for (var at = 0; at <= total; at += 5) {
        var p = path.getPointAtLength(at);
        occupied.add({ x: p.x - 4, y: p.y - 4, w: 8, h: 8 });
      }
      parent.removeChild(path);
    }

    // Routes.
    var current = [];
    data.routes.forEach(function (r) {
      var pts = r.points.map(function (p) {
        if (p.kind === "dest" && dest) return dest;
        if (p.kind === "origin") {
          for (var k = 0; k < origins.length; k++) {
            if (origins[k].o.name === p.name) return origins[k].xy;
          }
        }
        return placeOf(p);
      });
      if (pts.length < 2) return;
      var reached = Math.max(0, Math.min(r.reached, pts.length - 1));
      var full = curve(pts, 0, pts.length - 1);
      el("path", { d: full, "class": "m-casing" }, layers.route);
      if (reached < pts.length - 1) {
        el("path", { d: curve(pts, reached, pts.length - 1), "class": "map-route rest" }, layers.route);
      }
      if (reached > 0) {
        el("path", { d: curve(pts, 0, reached), "class": "map-route done" + (r.exception ? " exception" : "") },
           layers.route);
      }
      reserveAlong(el("path", { d: full }), layers.route);
      for (var k = 1; k < pts.length - 1; k++) {
        el("circle", { cx: pts[k][0].toFixed(1), cy: pts[k][1].toFixed(1), r: 3.5,
                       "class": "m-hub" + (k <= reached ? " reached" : "") }, layers.hub);
        occupied.add({ x: pts[k][0] - 4, y: pts[k][1] - 4, w: 8, h: 8 });
      }
      r._pts = pts;
      if (r.moving) current.push({ xy: pts[reached], exception: r.exception });
    });

    // Chips naming the warehouse(s) and the destination.
    function chip(xy, label, below, isDest) {
      var cw = textWidth(label, 11) + 14, ch = 20, lift = isDest ? 55 : 34;
      var above = [xy[0] - cw / 2, xy[1] - lift], under = [xy[0] - cw / 2, xy[1] + 16];
      var right = [xy[0] + 16, xy[1] - (isDest ? 30 : 10)], left = [xy[0] - 16 - cw, right[1]];
      var tries = below ? [under, above, right, left] : [above, under, right, left];
      var chosen = null;
      for (var t = 0; t < tries.length && !chosen; t++) {
        var r = { x: Math.min(Math.max(tries[t][0], 4), w - cw - 4), y: tries[t][1], w: cw, h: ch };
        if (occupied.free(r) && inside(r, w, h)) chosen = r;
      }
      if (!chosen) {  // crowded: the name still shows, where it fits the frame
        chosen = { x: Math.min(Math.max(tries[0][0], 4), w - cw - 4),
                   y: Math.min(Math.max(tries[0][1], 4), h - ch - 4), w: cw, h: ch };
      }
      occupied.add(chosen);
      el("rect", { x: chosen.x.toFixed(1), y: chosen.y.toFixed(1), width: cw.toFixed(1), height: ch,
                   rx: 6, "class": "m-chip" }, layers.label);
      text(layers.label, chosen.x + cw / 2, chosen.y + 14, label, "m-chip-text", "middle");
    }
    origins.forEach(function (o) { chip(o.xy, o.o.name, !dest || o.xy[1] >= dest[1], false); });
    if (dest) chip(dest, data.dest.name, origins.length > 0 && origins[0].xy[1] > dest[1], true);

    // Hub names, then reference cities, then province names, wherever there is room.
    function label(xy, name, size, cls, parent, more) {
      var tw = textWidth(name, size);
      // [dx, dy of the baseline, anchor]: right, left, then (hubs) above, below, diagonals
      var options = [[7, 0, "start"], [-7, 0, "end"]];
      if (more) {
        options.push([0, -size * 1.1, "middle"], [0, size * 1.3, "middle"], [7, -size, "start"],
                     [-7, -size, "end"], [7, size, "start"], [-7, size, "end"]);
      }
      for (var t = 0; t < options.length; t++) {
        var dx = options[t][0], dy = options[t][1], anchor = options[t][2];
        var x0 = anchor === "start" ? xy[0] + dx : anchor === "end" ? xy[0] + dx - tw : xy[0] - tw / 2;
        var r = { x: x0 - 1, y: xy[1] + dy - size * 0.8, w: tw + 2, h: size * 1.35 };
        if (occupied.free(r) && inside(r, w, h)) {
          occupied.add(r);
          text(parent, xy[0] + dx, xy[1] + dy + size * 0.35, name, cls, anchor);
          return true;
        }
      }
      return false;
    }
    var routePoints = [];
    data.routes.forEach(function (r) {
      if (!r._pts) return;
      for (var k = 1; k < r._pts.length - 1; k++) {
        routePoints.push(r._pts[k]);
        label(r._pts[k], r.points[k].name, 10, "m-hub-label", layers.label, true);
      }
    });
    function nearRoute(xy) {
      var marks = routePoints.concat(origins.map(function (o) { return o.xy; }), dest ? [dest] : []);
      for (var k = 0; k < marks.length; k++) {
        var dx = marks[k][0] - xy[0], dy = marks[k][1] - xy[1];
        if (dx * dx + dy * dy < 14 * 14) return true;
      }
      return false;
    }
    var cities = (data.cities || []).slice().sort(function (a, b) { return (b.major ? 1 : 0) - (a.major ? 1 : 0); });
    cities.forEach(function (c) {
      var xy = view.project(c.lat, c.lon);
      if (xy[0] < 6 || xy[0] > w - 6 || xy[1] < 6 || xy[1] > h - 6 || nearRoute(xy)) return;
      var dot = { x: xy[0] - 3, y: xy[1] - 3, w: 6, h: 6 };
      if (!occupied.free(dot)) return;
      var size = c.major ? 11 : 10;
      var g = el("g", { "class": "m-city-g" }, layers.city);
      if (label(xy, c.name, size, "m-city" + (c.major ? " major" : ""), g) || c.major) {
        el("circle", { cx: xy[0].toFixed(1), cy: xy[1].toFixed(1), r: c.major ? 2.8 : 2.2,
                       "class": "m-city-dot" + (c.major ? " major" : "") }, g);
        occupied.add(dot);
      } else {
        layers.city.removeChild(g);
      }
    });
    (data.provinces || []).forEach(function (p) {
      var xy = view.project(p.lat, p.lon), tw = textWidth(p.name, 20, 8);
      var r = { x: xy[0] - tw / 2, y: xy[1] - 16, w: tw, h: 22 };
      if (inside(r, w, h) && occupied.free(r)) {
        occupied.add(r);
        text(layers.province, xy[0], xy[1], p.name, "m-province", "middle");
      }
    });

    gridLabels.forEach(function (g) {
      var r = { x: g[0] - 1, y: g[1] - 8, w: textWidth(g[2], 9) + 2, h: 10 };
      if (occupied.free(r)) text(layers.grid, g[0], g[1], g[2], "m-grid-label");
    });

    // The parcel now, the markers themselves.
    current.forEach(function (c) {
      var cls = c.exception ? " exception" : "";
      el("circle", { cx: c.xy[0].toFixed(1), cy: c.xy[1].toFixed(1), r: 9, "class": "m-halo" + cls }, layers.marker);
      el("circle", { cx: c.xy[0].toFixed(1), cy: c.xy[1].toFixed(1), r: 6, "class": "m-current" + cls,
                     id: "map-current" }, layers.marker);
    });
    origins.forEach(function (o, k) {
      var g = el("g", { id: k === 0 ? "map-origin" : "map-origin-" + (k + 1), "class": "map-origin",
                        transform: "translate(" + o.xy[0].toFixed(1) + " " + o.xy[1].toFixed(1) + ")" },
                 layers.marker);
      el("rect", { x: -11, y: -11, width: 22, height: 22, rx: 6, "class": "m-origin-box" }, g);
      text(g, 0, 4, "仓", "m-marker-text", "middle");
    });
    if (dest) {
      var delivered = data.routes.length > 0 && data.routes.every(function (r) { return r.delivered; });
      var g = el("g", { id: "map-dest", "class": "map-dest",
                        transform: "translate(" + dest[0].toFixed(1) + " " + dest[1].toFixed(1) + ")" },
                 layers.marker);
      el("path", { d: "M0 0 C-3 -7 -11 -12 -11 -20 A11 11 0 1 1 11 -20 C11 -12 3 -7 0 0 Z",
                   "class": "m-dest-pin" + (delivered ? " delivered" : "") }, g);
      text(g, 0, -16, delivered ? "✓" : "收", "m-marker-text", "middle");
    }

    // Scale bar, north arrow, caption.
    var kmPerPx = 111.32 / view.scale, nice = [1, 2, 5, 10, 20, 50, 100, 200, 500, 1000], km = nice[0];
    for (var n = 0; n < nice.length; n++) { if (nice[n] / kmPerPx <= 90) km = nice[n]; }
    var px = km / kmPerPx, sy = h - 12;
    el("path", { d: "M12 " + (sy - 4) + " v4 h" + px.toFixed(1) + " v-4", "class": "m-scale" }, layers.deco);
    text(layers.deco, 12, sy - 8, km + " 公里", "m-scale-label");
    el("path", { d: "M" + (w - 16) + " 10 l5 12 l-5 -3 l-5 3 Z", "class": "m-north" }, layers.deco);
    text(layers.deco, w - 16, 33, "N", "m-scale-label", "middle");
    text(layers.deco, w - 8, h - 8, "示意图", "m-caption", "end");

    var names = data.origins.map(function (o) { return o.name; }).join("、");
    box.setAttribute("aria-label", "运输路线：" + names + (data.dest ? " → " + data.dest.name : ""));
  }

  // ---- the live map (Amap JS API 2.0) -------------------------------------------------
  function pin(kind, label) {
    var d = document.createElement("div");
    d.className = "amap-pin " + kind;
    var s = document.createElement("span");
    s.textContent = label;
    d.appendChild(s);
    return d;
  }

  function drawAmap(box, data) {
    var A = window.AMap;
    if (!A || !A.Map) return false;
    box.textContent = "";
    var first = data.dest || data.origins[0];
    var map = new A.Map(box, { viewMode: "2D", zoom: 8, center: [first.lon, first.lat],
                               mapStyle: "amap://styles/whitesmoke", resizeEnable: true });
    var overlays = [];
    data.origins.forEach(function (o) {
      overlays.push(new A.Marker({ position: [o.lon, o.lat], title: o.name, content: pin("origin", "仓"),
                                   offset: new A.Pixel(-13, -13), zIndex: 120 }));
    });
    if (data.dest) {
      overlays.push(new A.Marker({ position: [data.dest.lon, data.dest.lat], title: data.dest.name,
                                   content: pin("dest", "收"), offset: new A.Pixel(-13, -30), zIndex: 120 }));
    }
    data.routes.forEach(function (r) {
      var path = r.points.map(function (p) { return [p.lon, p.lat]; });
      var reached = Math.max(0, Math.min(r.reached, path.length - 1));
      var done = path.slice(0, reached + 1), rest = path.slice(reached);
      if (rest.length > 1) {
        overlays.push(new A.Polyline({ path: rest, strokeColor: "#98a6bb", strokeWeight: 4,
                                       strokeStyle: "dashed", strokeDasharray: [4, 8], lineCap: "round" }));
      }
      if (done.length > 1) {
        overlays.push(new A.Polyline({ path: done, strokeColor: r.exception ? "#d9363e" : "#1456f0",
                                       strokeWeight: 6, strokeOpacity: 0.95, lineJoin: "round",
                                       lineCap: "round", showDir: true, isOutline: true,
                                       outlineColor: "#ffffff", borderWeight: 1 }));
      }
      if (r.moving) {
        overlays.push(new A.Marker({ position: path[reached], content: pin("current", ""),
                                     offset: new A.Pixel(-8, -8), zIndex: 130 }));
      }
    });
    map.add(overlays);
    map.setFitView(overlays, false, [48, 48, 48, 48]);
    return true;
  }

  function setMode(label) {
    var m = document.getElementById("map-mode");
    if (m) m.textContent = label;
  }

  function loadAmap(box, data, src) {
    window.lvyueAmapReady = function () {
      try {
        amapActive = drawAmap(box, data);
      } catch (e) {
        amapActive = false;
        drawOffline(box, data);
      }
      setMode(amapActive ? "实时地图" : "离线示意图");
    };
    var script = document.createElement("script");
    script.src = src + "&callback=lvyueAmapReady";
    script.async = true;
    script.onerror = function () { setMode("离线示意图"); };
    document.head.appendChild(script);
    setTimeout(function () { if (!amapActive) setMode("离线示意图"); }, 8000);
  }

  function start() {
    var box = document.getElementById("map");
    var node = document.getElementById("track-data");
    if (!box || !node) return;
    var data;
    try { data = JSON.parse(node.textContent); } catch (e) { return; }
    if (!data.routes || !data.routes.length) return;
    drawOffline(box, data);
    var src = box.getAttribute("data-amap-src");
    if (src) loadAmap(box, data, src);
    var timer = null, lastWidth = box.clientWidth;
    window.addEventListener("resize", function () {
      if (amapActive || box.clientWidth === lastWidth) return;
      clearTimeout(timer);
      timer = setTimeout(function () { lastWidth = box.clientWidth; drawOffline(box, data); }, 150);
    });
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();
