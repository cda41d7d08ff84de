// The console's few interactions: the answer's character count, the phone-sized preview, one
// more legal-basis row, and the 试问 box answered in place. Every page works without it.
(function () {
  "use strict";

  function basisText(rows) {
    // As the bot writes it (bot/faq/model.py Faq.basis_text): consecutive articles of one
    // statute are cited together, statutes are separated by "；".
    var parts = [];
    var last = null;
    rows.forEach(function (row) {
      var statute = row.statute.replace(/^《|》$/g, "");
      if (statute === last) {
        parts[parts.length - 1] += "、" + row.article;
      } else {
        parts.push("《" + statute.replace(/^中华人民共和国/, "") + "》" + row.article);
      }
      last = statute;
    });
    return parts.join("；");
  }

  function basisRows(form) {
    var rows = [];
    form.querySelectorAll(".basis-row").forEach(function (row) {
      var statute = row.querySelector("[name=statute]").value.trim();
      var article = row.querySelector("[name=article]").value.trim();
      if (statute && article) { rows.push({ statute: statute, article: article }); }
    });
    return rows;
  }

  function setUpEditor(form) {
    var answer = form.querySelector("[name=answer]");
    var question = form.querySelector("[name=question]");
    var count = document.getElementById("answer-count");
    var preview = document.getElementById("preview-answer");
    var asked = document.getElementById("preview-question");
    if (!answer || !count || !preview) { return; }
    var max = parseInt(count.getAttribute("data-max"), 10);
    var template = preview.getAttribute("data-template");

    function update() {
      var length = Array.from(answer.value.trim()).length;
      count.textContent = length + " / " + max + " 字";
      count.classList.toggle("over", length > max);
      var basis = basisText(basisRows(form)) || "—";
      // Text only: the preview never parses what was typed as HTML.
      preview.textContent = template.split("{answer}").join(answer.value.trim()).split("{basis}").join(basis);
      if (asked && question) { asked.textContent = question.value.trim() || asked.getAttribute("data-empty"); }
    }

    form.addEventListener("input", update);
    var add = document.getElementById("add-basis");
    if (add) {
      add.hidden = false;
      add.addEventListener("click", function () {
        var rows = form.querySelectorAll(".basis-row");
        var copy = rows[rows.length - 1].cloneNode(true);
        copy.querySelectorAll("input").forEach(function (input) { input.value = ""; });
        rows[rows.length - 1].after(copy);
        copy.querySelector("input").focus();
      });
    }
    update();
  }

  function setUpTry(form) {
    var target = document.getElementById(form.getAttribute("data-target"));
    if (!target) { return; }
    form.addEventListener("submit", function (event) {
      event.preventDefault();
      var params = new URLSearchParams(new FormData(form));
      params.set("fragment", "1");
      target.setAttribute("aria-busy", "true");
      fetch(form.getAttribute("action") + "?" + params.toString(), { credentials: "same-origin" })
        .then(function (response) {
          if (response.redirected) {  // signed out meanwhile: the sign-in page, not results
            window.location.href = response.url;
            return null;
          }
          if (!response.ok) { throw new Error(String(response.status)); }
          return response.text();
        })
        .then(function (html) {
          // The server rendered it with every text escaped.
          if (html !== null) { target.innerHTML = html; }
        })
        .catch(function () {
          form.submit();
        })
        .finally(function () {
          target.setAttribute("aria-busy", "false");
        });
    });
  }

  document.querySelectorAll("form.faq-editor").forEach(setUpEditor);
  document.querySelectorAll("form.try-form").forEach(setUpTry);
})();
