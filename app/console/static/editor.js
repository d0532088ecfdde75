/* Vigil console editor: line numbers that follow the text, a small YAML highlighter,
   and Check without leaving the page. The page works without this script. */
(function () {
  "use strict";
  document.documentElement.classList.add("js");

  function escapeHtml(s) {
    return s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");
  }

  // One line of YAML: comment, key, and the scalar after it (string, number, keyword).
  function highlightLine(line) {
    var comment = "";
    var hash = line.search(/(^|\s)#/);
    if (hash >= 0) { comment = line.slice(hash); line = line.slice(0, hash); }
    var out;
    var m = /^(\s*-?\s*)([A-Za-z_][\w.-]*)(\s*:)(.*)$/.exec(line);
    if (m) {
      out = escapeHtml(m[1]) + '<span class="hl-key">' + escapeHtml(m[2]) + "</span>" + escapeHtml(m[3]) +
        value(m[4], m[2] === "when");
      inCondition = m[2] === "when";
    } else {
      var d = /^(\s*-\s*)(.*)$/.exec(line);
      // a condition folded onto the next lines stays a condition
      out = d ? escapeHtml(d[1]) + value(d[2], false) : value(line, inCondition && /^\s/.test(line));
    }
    return out + (comment ? '<span class="hl-com">' + escapeHtml(comment) + "</span>" : "");
  }

  var inCondition = false;

  function value(text, condition) {
    var t = text.trim();
    if (!t) return escapeHtml(text);
    var cls = null;
    if (/^(["']).*\1$/.test(t)) cls = "hl-str";
    else if (/^-?\d+(\.\d+)?$/.test(t)) cls = "hl-num";
    else if (/^(true|false|null|~)$/.test(t)) cls = "hl-kw";
    if (!cls) {
      if (!condition) return escapeHtml(text);
      return escapeHtml(text).replace(/\b(and|or|not|in|signal|present|missing|any|all|count|sum)\b(?=[\s(])/g,
                                     '<span class="hl-kw">$1</span>');
    }
    var lead = text.slice(0, text.indexOf(t[0]));
    return escapeHtml(lead) + '<span class="' + cls + '">' + escapeHtml(t) + "</span>" + escapeHtml(text.slice(lead.length + t.length));
  }

  function Editor(root) {
    this.root = root;
    this.textarea = root.querySelector("textarea");
    this.gutter = root.querySelector("[data-gutter]");
    this.highlight = root.querySelector("[data-highlight]");
    this.marks = {};
    var initial = this.gutter.querySelectorAll(".marked");
    for (var i = 0; i < initial.length; i++) this.marks[initial[i].textContent.trim()] = initial[i].title;
    var self = this;
    this.textarea.addEventListener("input", function () { self.render(); });
    this.textarea.addEventListener("keydown", function (e) {
      if (e.key === "Tab" && !e.shiftKey && !e.ctrlKey && !e.altKey) {
        // two spaces, as YAML wants; Escape then Tab leaves the editor
        if (self.escaped) { self.escaped = false; return; }
        e.preventDefault();
        var s = self.textarea.selectionStart;
        self.textarea.setRangeText("  ", s, self.textarea.selectionEnd, "end");
        self.render();
      } else if (e.key === "Escape") { self.escaped = true; }
    });
    this.render();
  }

  Editor.prototype.render = function () {
    var lines = this.textarea.value.split("\n");
    this.textarea.rows = lines.length + 1;
    var g = [], h = [];
    inCondition = false;
    for (var i = 0; i < lines.length; i++) {
      var n = String(i + 1), mark = this.marks[n];
      g.push(mark !== undefined ? '<span class="marked" title="' + escapeHtml(mark).replace(/"/g, "&quot;") + '">' + n + "</span>" : "<span>" + n + "</span>");
      h.push(mark !== undefined ? '<span class="hl-bad">' + highlightLine(lines[i]) + "</span>" : highlightLine(lines[i]));
    }
    this.gutter.innerHTML = g.join("\n") + "\n";
    this.highlight.innerHTML = h.join("\n") + "\n";
  };

  Editor.prototype.goTo = function (line) {
    var lines = this.textarea.value.split("\n"), at = 0;
    for (var i = 0; i < line - 1 && i < lines.length; i++) at += lines[i].length + 1;
    this.textarea.focus();
    this.textarea.setSelectionRange(at, at + (lines[line - 1] || "").length);
    var top = this.textarea.getBoundingClientRect().top + window.scrollY + (line - 1) * 20 - 120;
    window.scrollTo(0, Math.max(0, top));
  };

  var editors = {};
  var roots = document.querySelectorAll("[data-editor]");
  for (var i = 0; i < roots.length; i++) {
    var ed = new Editor(roots[i]);
    editors[ed.textarea.name] = ed;
  }

  function bindLines(container) {
    var items = container.querySelectorAll("li[data-line]");
    for (var i = 0; i < items.length; i++) {
      (function (li) {
        var link = li.querySelector("a.line");
        if (!link) return;
        link.addEventListener("click", function (e) {
          e.preventDefault();
          var ed = editors[li.getAttribute("data-target")];
          if (ed) ed.goTo(parseInt(li.getAttribute("data-line"), 10));
        });
      })(items[i]);
    }
  }

  var problems = document.getElementById("problems");
  if (problems) bindLines(problems);

  var form = document.getElementById("edit-form");
  var checkButton = form && form.querySelector("[data-check]");
  if (form && checkButton && window.fetch) {
    checkButton.addEventListener("click", function (e) {
      e.preventDefault();
      var data = new FormData(form);
      data.set("action", "check");
      checkButton.disabled = true;
      fetch(form.getAttribute("data-check-url"), {method: "POST", body: data, credentials: "same-origin",
                                                  headers: {"X-CSRF-Token": data.get("csrf_token")}})
        .then(function (r) { if (!r.ok) throw new Error("status " + r.status); return r.json(); })
        .then(function (body) { showProblems(body.problems); })
        .catch(function () { form.requestSubmit ? form.requestSubmit(checkButton) : form.submit(); })
        .then(function () { checkButton.disabled = false; });
    });
  }

  function showProblems(list) {
    var marks = {document: {}, scenarios: {}};
    var html;
    if (!list.length) {
      html = '<p class="ok" role="status">No problems: the ruleset checks and compiles against its contract.</p>';
    } else {
      html = '<div class="error" role="alert"><p>' + list.length + ' problem(s); nothing is saved until they are fixed.</p><ul class="problems">';
      list.forEach(function (p) {
        var target = p.in_scenarios ? "scenarios" : "document";
        if (p.line) marks[target][String(p.line)] = p.message;
        html += '<li data-line="' + (p.line || "") + '" data-target="' + target + '">' +
          (p.line ? '<a href="#' + target + '" class="line">' + (p.in_scenarios ? "scenarios " : "") + "line " + p.line + "</a> " : "") +
          (p.rule ? "rule <b>" + escapeHtml(p.rule) + "</b>: " : "") +
          (p.path ? "<code>" + escapeHtml(p.path) + "</code>: " : "") + escapeHtml(p.message) + "</li>";
      });
      html += "</ul></div>";
    }
    problems.innerHTML = html;
    bindLines(problems);
    Object.keys(editors).forEach(function (name) {
      editors[name].marks = marks[name] || {};
      editors[name].textarea.setAttribute("aria-invalid", Object.keys(editors[name].marks).length ? "true" : "false");
      editors[name].render();
    });
  }

  // The contract's fields: narrow the list as you type.
  var filter = document.querySelector("[data-filter]");
  if (filter) {
    filter.addEventListener("input", function () {
      var q = filter.value.trim().toLowerCase();
      var fields = document.querySelectorAll(".fields .field");
      for (var i = 0; i < fields.length; i++) {
        var text = fields[i].textContent.toLowerCase();
        fields[i].hidden = q && text.indexOf(q) < 0;
      }
    });
  }
})();
