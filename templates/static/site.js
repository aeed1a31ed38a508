/* trialfinder site: filters, sorting and "nearest" for index.html, all in this page (no requests, no storage).
   Each study row carries its facts in data-* attributes; the form's choices are mirrored in the URL query string
   so a filtered view can be shared and reopened. The visitor's location is asked for only when they press
   "Use my location" (or choose "Nearest first"); a place typed in the place box is looked up in static/places.js
   (an offline gazetteer, loaded only when the box is used). Neither is sent anywhere or put in the URL. */
(function () {
  "use strict";
  // The language switcher keeps the filters: each link to this page in another language is a plain link (it works
  // without JavaScript) that gets this page's query string, the filters, whenever it is about to be followed.
  Array.prototype.forEach.call(document.querySelectorAll("a.lang-link"), function (link) {
    var base = link.getAttribute("href");
    function carry() { link.setAttribute("href", base + location.search); }
    ["click", "focus", "mouseenter", "touchstart", "contextmenu"].forEach(function (kind) {
      link.addEventListener(kind, carry);
    });
  });
})();
(function () {
  "use strict";
  var form = document.getElementById("filters");
  var list = document.getElementById("studies");
  if (!form || !list || !window.URLSearchParams) { return; }
  var FIELDS = ["q", "topic", "status", "phase", "age", "sex", "type", "country", "aged", "aged_unit", "scope", "within",
    "sort"];
  var countEl = document.getElementById("count");
  var noneEl = document.getElementById("none");
  var geoNote = document.getElementById("geo-note");
  var moreRows = document.getElementById("more-rows");
  var moreNote = document.getElementById("more-note");
  var moreButton = document.getElementById("show-more");
  var PAGE = 100;  // rows shown at once; "Show more" adds as many again
  var limit = PAGE;
  var lastChoices = "";
  var here = null;
  var asking = false;
  var placeBox = document.getElementById("f-place");
  var firstNote = geoNote.textContent;
  // The page's language: its words for what this script says (templates/_js_words.html; none on English pages).
  var LANG = document.documentElement.lang || "en";
  var wordsEl = document.getElementById("js-words"), WORDS = {};
  try { WORDS = wordsEl ? JSON.parse(wordsEl.dataset.words) : {}; } catch (e) { WORDS = {}; }
  // singular or plural by the language's own rule (French: 0 and 1 are singular), as Babel does for our pages
  var PLURAL = window.Intl && Intl.PluralRules ? new Intl.PluralRules(LANG) : null;
  function one(n) { return PLURAL ? PLURAL.select(Number(n)) === "one" : Number(n) === 1; }
  function t(text, values) {  // t("Show {n} more", {n: 5}): the page's words for an English sentence, filled in
    var out = WORDS[text] || text;
    Object.keys(values || {}).forEach(function (key) { out = out.split("{" + key + "}").join(values[key]); });
    return out;
  }
  var lastOrder = "";

  function fold(text) {
    return (text || "").normalize("NFD").replace(/[\u0300-\u036f]/g, "").toLowerCase();
  }
  function words(value) { return value ? value.split(" ") : []; }
  function points(value) {
    return words(value).map(function (pair) {
      var p = pair.split(",");
      return [parseFloat(p[0]), parseFloat(p[1]), p[2] === "c"];  // "c": the city's centre, not the site's
    }).filter(function (p) { return isFinite(p[0]) && isFinite(p[1]); });
  }
  var items = Array.prototype.map.call(list.children, function (row, index) {
    var d = row.dataset;
    var text = Array.prototype.map.call(row.querySelectorAll(".q"), function (el) { return el.textContent; });
    return {
      row: row, index: index, text: fold(text.join(" ")), topic: words(d.topic), status: d.status || "",
      phase: words(d.phase), age: words(d.age), sex: d.sex || "", type: d.type || "",
      country: d.country ? d.country.split("|") : [], updated: d.updated || "", start: d.start || "",
      geo: points(d.geo), km: null, dist: row.querySelector(".dist"), shown: !row.hidden
    };
  });

  var order = items;  // the rows in their current page order

  function choices() {
    var s = {};
    FIELDS.forEach(function (name) { s[name] = form.elements[name].value.trim(); });
    return s;
  }
  function ageOk(s, it) {  // "Age of the person" against the row's data-min-months / data-max-months ("" = none)
    var n = parseFloat(s.aged), d = it.row.dataset;
    if (!s.aged || !isFinite(n) || n < 0) { return true; }
    var months = Math.floor(s.aged_unit === "m" ? n : n * 12);
    if (d.minMonths && months < parseFloat(d.minMonths)) { return false; }
    return !(d.maxMonths && months > parseFloat(d.maxMonths));
  }
  var otherEl = document.getElementById("other");
  var shownTiers = parseInt(list.getAttribute("data-shown-tiers"), 10) || 0;
  function tierOk(s, it) {  // until "scope" is "all", only tiers 1..data-shown-tiers (on the list) are shown
    return !shownTiers || s.scope === "all" || !(parseInt(it.row.dataset.tier, 10) > shownTiers);
  }
  if (otherEl) {
    document.getElementById("show-other").addEventListener("click", function () {
      form.elements.scope.value = "all";
      apply();
    });
  }
  function matches(s, it) {
    if (!ageOk(s, it) || !tierOk(s, it)) { return false; }
    if (s.topic && it.topic.indexOf(s.topic) < 0) { return false; }
    if (s.status === "open") {
      if (["recruiting", "invitation", "soon"].indexOf(it.status) < 0) { return false; }
    } else if (s.status && it.status !== s.status) { return false; }
    if (s.phase && it.phase.indexOf(s.phase) < 0) { return false; }
    if (s.age && it.age.indexOf(s.age) < 0) { return false; }
    if (s.sex && it.sex && it.sex !== "ALL" && it.sex !== s.sex) { return false; }
    if (s.type && it.type !== s.type) { return false; }
    if (s.country && it.country.indexOf(s.country) < 0) { return false; }
    if (s.within && here && (it.km === null || it.km > s.within)) { return false; }
    for (var i = 0; i < s.terms.length; i++) {
      if (it.text.indexOf(s.terms[i]) < 0) { return false; }
    }
    return true;
  }
  // Results first (issue 13): the active filters as chips in the sticky bar, each a button that removes its filter,
  // and for an empty result the nearest wider searches, each dropping one choice, counted here in the page.
  var CHIPS = ["q", "status", "age", "country", "topic", "phase", "sex", "type", "aged", "scope", "within"];
  var WIDER = { q: t("without the search words"), status: t("of any recruitment status"),
    age: t("for any age group"), country: t("in any country"), topic: t("in all topics"), phase: t("in any phase"),
    sex: t("open to anyone"), type: t("of any study type"), aged: t("for any age"), within: t("at any distance") };
  var chipsEl = document.getElementById("chips");
  var widerEl = document.getElementById("wider");
  var widerIntro = document.getElementById("wider-intro");
  var jump = document.getElementById("jump");
  var bar = document.getElementById("resultbar");
  var lastChips = "";
  function active() {
    return CHIPS.filter(function (name) { return form.elements[name].value.trim() !== ""; });
  }
  function chipText(name) {
    var field = form.elements[name], value = field.value.trim();
    if (name === "q") { return "“" + value + "”"; }
    if (name === "aged") {
      var months = form.elements.aged_unit.value === "m";
      return t(months ? (one(value) ? "Age {n} month" : "Age {n} months") : one(value) ? "Age {n} year" :
        "Age {n} years", { n: value });
    }
    return field.options[field.selectedIndex].text;
  }
  function clearField(name) {
    form.elements[name].value = "";
    if (name === "aged") { form.elements.aged_unit.value = ""; }
  }
  function showChips() {
    var names = active(), key = names.map(function (name) { return name + "=" + chipText(name); }).join("&");
    if (key === lastChips) { return; }
    lastChips = key;
    chipsEl.textContent = "";
    names.forEach(function (name) {
      var chip = document.createElement("button"), cross = document.createElement("span");
      chip.type = "button";
      chip.className = "chip";
      chip.dataset.name = name;
      chip.textContent = chipText(name);
      cross.textContent = "×";
      cross.setAttribute("aria-hidden", "true");
      chip.appendChild(cross);
      chip.setAttribute("aria-label", t("Remove the filter {name}", { name: chipText(name) }));
      chipsEl.appendChild(chip);
    });
    if (!names.length) {  // the bar keeps its height: nothing under the finger moves when the first chip comes
      var none = document.createElement("span");
      none.className = "none-chosen";
      none.textContent = t("No filter chosen: every study.");
      chipsEl.appendChild(none);
    }
    chipsEl.hidden = false;
  }
  chipsEl.addEventListener("click", function (event) {
    var chip = event.target.closest(".chip");
    if (!chip) { return; }
    var next = chip.nextElementSibling || chip.previousElementSibling;
    var nextName = next && next.dataset.name;
    clearField(chip.dataset.name);
    apply();
    next = nextName && chipsEl.querySelector('[data-name="' + nextName + '"]');
    (next || jump).focus();  // the pressed chip is gone: the next one, else the link to the list
  });
  function countWith(s) {
    var n = 0;
    prepare(s);
    for (var i = 0; i < items.length; i++) { if (matches(s, items[i])) { n++; } }
    return n;
  }

  function offerWider() {
    var offers = [];
    active().forEach(function (name) {
      if (name === "scope" || (name === "within" && !here)) { return; }  // these never narrow the list here
      var s = choices();
      s[name] = "";
      if (name === "aged") { s.aged_unit = ""; }
      var n = countWith(s);
      if (n) { offers.push({ n: n, text: t(one(n) ? "{n} study {wider}" : "{n} studies {wider}",
        { n: n, wider: WIDER[name] }), drop: name }); }
    });
    if (otherEl && form.elements.scope.value !== "all") {
      var all = choices();
      all.scope = "all";
      var n = countWith(all);
      if (n) { offers.push({ n: n, text: t(one(n) ? "{n} study including {label}" : "{n} studies including {label}",
        { n: n, label: otherEl.dataset.label }), scope: true }); }
    }
    offers.sort(function (a, b) { return b.n - a.n; });
    widerEl.textContent = "";
    offers.forEach(function (offer) {
      var li = document.createElement("li"), button = document.createElement("button");
      button.type = "button";
      button.textContent = offer.text;
      button.addEventListener("click", function () {
        if (offer.scope) { form.elements.scope.value = "all"; } else { clearField(offer.drop); }
        apply();
        document.getElementById("list-heading").focus();
      });
      li.appendChild(button);
      widerEl.appendChild(li);
    });
    widerIntro.textContent = offers.length ? t("The nearest wider searches:") :
      t("Removing one filter is not enough: remove a few, or press “Clear all” under “More filters”.");
  }
  function clearBar() {  // a jump to the list (or focus moving down it) is not hidden under the sticky bar
    document.documentElement.style.scrollPaddingTop = (bar.offsetHeight + 8) + "px";
  }
  jump.addEventListener("click", clearBar);
  function distanceKm(a, b) {
    var rad = Math.PI / 180, dLat = (b[0] - a[0]) * rad, dLon = (b[1] - a[1]) * rad;
    var h = Math.sin(dLat / 2) * Math.sin(dLat / 2) +
      Math.cos(a[0] * rad) * Math.cos(b[0] * rad) * Math.sin(dLon / 2) * Math.sin(dLon / 2);
    return 12742 * Math.asin(Math.min(1, Math.sqrt(h)));
  }
  function measure() {
    items.forEach(function (it) {
      it.km = null;
      it.geo.forEach(function (p) {
        var km = distanceKm([here.lat, here.lon], p);
        if (it.km === null || km < it.km) { it.km = km; it.approx = p[2]; }
      });
      it.dist.textContent = it.km === null ? t(" · no site location given") : t(" · nearest site about {km} km from " +
        "{place}", { km: it.km < 10 ? it.km.toLocaleString(LANG, { minimumFractionDigits: 1, maximumFractionDigits: 1 }) :
        Math.round(it.km).toLocaleString(LANG),
        place: here.label }) + (it.approx ? t(" (measured to its city's centre)") : "");
    });
  }
  function reorder(sort) {
    var key = sort === "near" && here ? "near" + here.lat + "," + here.lon : sort === "start" ? "start" : "updated";
    if (key === lastOrder) { return; }
    lastOrder = key;
    order = items.slice();
    if (key === "start") {
      order.sort(function (a, b) { return a.start === b.start ? a.index - b.index : a.start < b.start ? 1 : -1; });
    } else if (key !== "updated") {
      order.sort(function (a, b) {
        if (a.km === b.km) { return a.index - b.index; }
        if (a.km === null) { return 1; }
        if (b.km === null) { return -1; }
        return a.km - b.km;
      });
    }
    var fragment = document.createDocumentFragment();
    order.forEach(function (it) { fragment.appendChild(it.row); });
    list.appendChild(fragment);
  }
  function writeUrl(s) {
    var params = new URLSearchParams();
    FIELDS.forEach(function (name) {
      if (s[name] && !(name === "sort" && s[name] === "updated")) { params.set(name, s[name]); }
    });
    var query = params.toString();
    try {
      history.replaceState(null, "", query ? "?" + query : location.pathname);
    } catch (e) { /* some browsers refuse this on file:// pages; the filters still work */ }
  }
  function prepare(s) {  // the typed values as matches() reads them
    s.within = s.within ? parseFloat(s.within) : 0;
    s.terms = fold(s.q).split(/\s+/).filter(Boolean);  // folded once per change, not once per study
    return s;
  }
  function apply() {
    var s = choices(), found = 0, i, it, ok, changed = [];
    if (s.sort === "near" && !here) {  // nothing to measure from yet: say so, and show the order really used
      form.elements.sort.value = s.sort = "updated";
      if (!asking) {
        say(t("Nearest first needs a place: type one above or press “Use my location”. Sorted by relevance, then " +
          "update."));
      }
    }
    prepare(s);
    var key = JSON.stringify(s);
    if (key !== lastChoices) { limit = PAGE; lastChoices = key; }  // a new question starts at its first rows
    reorder(s.sort);
    // Decide every row first, in plain data, then touch only the rows whose visibility changes, in one batch
    // with no layout read in between. At most `limit` rows are shown, so a change writes a few hundred attributes
    // at worst, whatever the number of studies.
    for (i = 0; i < order.length; i++) {
      it = order[i];
      ok = matches(s, it);
      if (ok) { found++; }
      ok = ok && found <= limit;
      if (ok !== it.shown) { it.shown = ok; changed.push(it); }
    }
    for (i = 0; i < changed.length; i++) { changed[i].row.hidden = !changed[i].shown; }
    countEl.textContent = t(one(items.length) ? "{found} of {total} study" : "{found} of {total} studies",
      { found: found, total: items.length });
    noneEl.hidden = found > 0;
    moreRows.hidden = found <= limit;
    if (found > limit) {
      var next = Math.min(PAGE, found - limit);
      moreNote.textContent = t("Showing the first {limit} of {found}.", { limit: limit, found: found });
      moreButton.textContent = t("Show {n} more", { n: next });
    }
    if (otherEl) { otherEl.hidden = s.scope === "all"; }
    showChips();
    showCountry(s.country);
    if (!found) { offerWider(); }
    writeUrl(s);
  }
  function say(text) { geoNote.textContent = text; }
  function measureFrom(point, note) {
    here = point;
    measure();
    form.elements.sort.value = "near";
    say(note);
    apply();
  }
  function locate() {
    if (!navigator.geolocation) {
      say(t("This browser cannot share a location, so the list is sorted by relevance, then update. Type a place " +
        "instead."));
      apply();
      return;
    }
    asking = true;
    say(t("Asking this browser for your location… Sorted by relevance, then update until it answers."));
    navigator.geolocation.getCurrentPosition(function (position) {
      asking = false;
      measureFrom({ lat: position.coords.latitude, lon: position.coords.longitude, label: t("you") },
        t("Sorted by the nearest site to you. Your location stays in this browser."));
    }, function () {
      asking = false;
      here = null;
      if (form.elements.sort.value === "near") { form.elements.sort.value = "updated"; }
      say(t("Your location is not available (refused or unknown), so the list is sorted by relevance, then update. " +
        "Type a place instead."));
      apply();
    }, { maximumAge: 600000, timeout: 20000 });
  }
  function withPlaces(done) {
    if (window.trialfinderPlaces) { done(window.trialfinderPlaces); return; }
    var script = document.createElement("script");  // a script, not a request for JSON: works from file:// too
    script.src = "static/places.js";
    script.onload = function () { done(window.trialfinderPlaces); };
    script.onerror = function () { say(t("The list of places could not be loaded.")); };
    document.head.appendChild(script);
  }
  function findPlace() {
    var typed = placeBox.value.trim();
    if (!typed) { say(t("Type a city or a country first.")); placeBox.focus(); return; }
    say(t("Looking up “{place}”…", { place: typed }));
    withPlaces(function (places) {
      var parts = typed.split(","), city = fold(parts[0]).trim(), wanted = null, code, i, line;
      var codes = {};
      Object.keys(places.countries).forEach(function (c) { codes[fold(places.countries[c])] = c; });
      if (parts.length > 1) { wanted = codes[fold(parts.slice(1).join(",")).trim()] || null; }
      var lines = places.cities.split("\n");
      for (i = 0; i < lines.length; i++) {  // biggest cities first, so "Paris" is the French one
        line = lines[i].split("\t");
        if (fold(line[0]) === city && (!wanted || line[1] === wanted)) {
          measureFrom({ lat: parseFloat(line[2]), lon: parseFloat(line[3]),
            label: line[0] + ", " + places.countries[line[1]] },
          t("Sorted by distance from {place} (its centre). The place you typed stays in this browser.",
            { place: line[0] + ", " + places.countries[line[1]] }));
          return;
        }
      }
      code = codes[fold(typed)];
      if (code) {
        var select = form.elements.country, name = fold(places.countries[code]);
        for (i = 0; i < select.options.length; i++) {
          if (select.options[i].value && fold(select.options[i].value) === name) {
            select.value = select.options[i].value;
            say(t("Showing studies with a site in {country}. Type a city there to measure distances.",
              { country: select.value }));
            apply();
            return;
          }
        }
        say(t("No study here has a site in {country}.", { country: places.countries[code] }));
        return;
      }
      say(t("“{place}” is not in this page's list of places (cities of 15,000 people or more). Try the nearest " +
        "bigger city, or a country. The list keeps its order.", { place: typed }));
      apply();
    });
  }

  var params = new URLSearchParams(location.search);
  FIELDS.forEach(function (name) {
    var field = form.elements[name], value = params.get(name);
    if (value === null) { return; }
    if (field.tagName === "SELECT") {
      for (var i = 0; i < field.options.length; i++) {
        if (field.options[i].value === value) { field.value = value; }
      }
    } else {
      field.value = value;
    }
  });
  var more = document.getElementById("more");
  var narrow = window.matchMedia && window.matchMedia("(max-width: 47.99rem)").matches;
  var shared = active().length > 0;  // a shared or reopened link: it opens on its results, the filters folded
  if (!narrow && !shared) { more.open = true; }
  var worldFold = document.getElementById("world-fold");  // the index map: after the list on a phone (results
  if (worldFold && narrow) {  // first, issue 13), folded there and for a shared link
    list.parentNode.insertBefore(worldFold.parentNode, document.querySelector(".from"));
  }
  if (worldFold && (narrow || shared)) { worldFold.open = false; }
  form.hidden = false;
  jump.hidden = false;
  document.getElementById("nojs").hidden = true;
  form.addEventListener("input", function (event) {  // search words and age as typed; the selects come by "change"
    if (event.target === form.elements.q || event.target === form.elements.aged) { apply(); }
  });
  form.addEventListener("change", function (event) {
    if (event.target === placeBox) { return; }
    if (event.target.name === "within" && event.target.value && !here) {
      say(t("A distance limit needs a place: type one above or press “Use my location”."));
    }
    if (event.target.name === "sort" && event.target.value === "near" && !here) {
      if (placeBox.value.trim()) { findPlace(); } else { locate(); }
    }
    apply();
  });
  form.addEventListener("submit", function (event) { event.preventDefault(); apply(); });
  form.addEventListener("reset", function () {
    here = null;
    items.forEach(function (it) { it.km = null; it.dist.textContent = ""; });
    say(firstNote);
    setTimeout(apply, 0);
  });
  document.getElementById("locate").addEventListener("click", locate);
  document.getElementById("find-place").addEventListener("click", findPlace);
  placeBox.addEventListener("focus", function () { withPlaces(function () {}); }, { once: true });  // load early
  placeBox.addEventListener("keydown", function (event) {
    if (event.key === "Enter") { event.preventDefault(); findPlace(); }
  });
  moreButton.addEventListener("click", function () {
    var first = null;
    limit += PAGE;
    apply();
    for (var i = 0, seen = 0; i < order.length && !first; i++) {  // focus the first newly shown study
      if (order[i].shown && ++seen === limit - PAGE + 1) { first = order[i].row.querySelector("a"); }
    }
    if (first) { first.focus(); }
  });
  // The index map and its list (issue 18): a country's link sets the country filter in the page; without this
  // script it opens the filtered address, which the code above applies on load. The chosen country is marked.
  var worldLinks = document.querySelectorAll("a[data-country]");
  function showCountry(value) {
    Array.prototype.forEach.call(worldLinks, function (link) {
      var on = link.getAttribute("data-country") === value;
      link.classList.toggle("chosen", on);
      if (on) { link.setAttribute("aria-current", "true"); } else { link.removeAttribute("aria-current"); }
    });
  }
  Array.prototype.forEach.call(worldLinks, function (link) {
    link.addEventListener("click", function (event) {
      var select = form.elements.country, value = link.getAttribute("data-country");
      for (var i = 0; i < select.options.length; i++) {
        if (select.options[i].value === value) {
          event.preventDefault();
          select.value = value;
          apply();
          return;
        }
      }
    });
  });
  apply();
  if (shared) {
    var heading = document.getElementById("list-heading");
    if (heading.getBoundingClientRect().top > window.innerHeight / 2) {  // below the first screen's top half
      clearBar();
      heading.scrollIntoView();
    }
  }
  if (window.performance && performance.mark) { performance.mark("filters-ready"); }  // for benchmarks/
}());
