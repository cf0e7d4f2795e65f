/* Layout check run in the page by tests/browser/test_layout.py: what a person would see as broken, measured in the
   DOM (getBoundingClientRect, scrollWidth), never by eye. Returns a list of problems, each one line. */
() => {
  "use strict";
  const TOL = 1;                          // sub-pixel rounding
  const out = [];
  const style = (e) => getComputedStyle(e);
  const shown = (e) => {
    const r = e.getBoundingClientRect(), s = style(e);
    return r.width > 1 && r.height > 1 && s.visibility !== "hidden" && parseFloat(s.opacity) > 0;
  };
  const name = (e) => {
    let n = e.tagName.toLowerCase();
    if (e.id) { n += "#" + e.id; }
    const cls = typeof e.className === "string" ? e.className.trim() : "";
    if (cls) { n += "." + cls.split(/\s+/).slice(0, 3).join("."); }
    const attr = e.getAttribute("name") || e.getAttribute("data-field") || e.getAttribute("aria-label");
    if (attr) { n += "[" + attr + "]"; }
    const text = (e.tagName === "SELECT" ? "" : (e.innerText || e.value || "")).trim().replace(/\s+/g, " ");
    if (text) { n += " \"" + text.slice(0, 32) + "\""; }
    return n;
  };
  const fixed = (e) => {
    for (let p = e; p && p !== document.body; p = p.parentElement) {
      if (style(p).position === "fixed") { return true; }
    }
    return false;
  };
  const scroller = (e) => ["auto", "scroll"].indexOf(style(e).overflowX) >= 0;
  const clipper = (e) => ["hidden", "clip"].indexOf(style(e).overflowX) >= 0;
  const ellipsis = (e) => style(e).textOverflow === "ellipsis";
  const root = document.querySelector("main, .content") || document.body;
  const doc = document.documentElement;

  // 1. the page itself scrolls sideways
  if (doc.scrollWidth > doc.clientWidth + TOL) {
    out.push("the page scrolls sideways: " + doc.scrollWidth + " px wide in a " + doc.clientWidth + " px window");
  }

  // 2. an element sticks out of its card (elements inside a scroll box inside the card are judged by 3)
  root.querySelectorAll(".card").forEach((card) => {
    if (!shown(card) || fixed(card)) { return; }
    const cr = card.getBoundingClientRect();
    const out_of_card = new Set();       // only the outermost element that sticks out is reported
    card.querySelectorAll("*").forEach((e) => {
      if (!shown(e) || e.closest(".card") !== card) { return; }   // a card in a card is judged on its own
      for (let p = e.parentElement; p && p !== card; p = p.parentElement) {
        if (scroller(p) || clipper(p)) { return; }
      }
      const r = e.getBoundingClientRect();
      const over = Math.max(r.right - cr.right, cr.left - r.left);
      if (over > TOL) {
        out_of_card.add(e);
        if (out_of_card.has(e.parentElement)) { return; }
        out.push(name(e) + " sticks out of its card " + name(card).slice(0, 60) + " by " + Math.round(over) + " px");
      }
    });
  });

  // 3. content cut off: a box that clips (or needs sideways scrolling) is narrower than what it holds
  root.querySelectorAll("*").forEach((e) => {
    if (!shown(e) || fixed(e)) { return; }
    const tag = e.tagName;
    if (tag === "TEXTAREA" || tag === "INPUT" || tag === "SELECT" || tag === "CANVAS" || tag === "svg") { return; }
    const wide = e.scrollWidth - e.clientWidth;
    if (wide <= TOL || e.clientWidth === 0) { return; }
    if (clipper(e) && !ellipsis(e)) {
      out.push(name(e) + " cuts off " + wide + " px of its content");
    } else if (scroller(e)) {
      out.push(name(e) + " needs sideways scrolling (" + wide + " px hidden)");
    } else if (tag === "BUTTON" || e.classList.contains("btn")) {
      out.push(name(e) + " is too narrow for its label (" + wide + " px)");
    }
  });

  // 4. a select too narrow for the option it shows
  const ruler = document.createElement("span");
  ruler.style.cssText = "position:absolute;visibility:hidden;white-space:pre;left:-9999px;top:0";
  document.body.appendChild(ruler);
  root.querySelectorAll("select").forEach((sel) => {
    if (!shown(sel) || sel.multiple || sel.selectedIndex < 0) { return; }
    const s = style(sel);
    ruler.style.font = s.font;
    ruler.style.letterSpacing = s.letterSpacing;
    ruler.textContent = sel.options[sel.selectedIndex].text;
    const room = sel.clientWidth - parseFloat(s.paddingLeft) - parseFloat(s.paddingRight) - 16;  // 16: the arrow
    if (ruler.getBoundingClientRect().width > room + TOL) {
      out.push(name(sel) + " is too narrow for \"" + ruler.textContent + "\" (" +
               Math.round(ruler.getBoundingClientRect().width) + " px of text in " + Math.round(room) + " px)");
    }
  });
  ruler.remove();

  // 5. form controls running into each other
  const controls = Array.from(root.querySelectorAll("input, select, textarea, button, a.btn"))
    .filter((e) => e.type !== "hidden" && shown(e) && !fixed(e));
  const rects = controls.map((e) => e.getBoundingClientRect());
  for (let i = 0; i < controls.length; i++) {
    for (let j = i + 1; j < controls.length; j++) {
      const a = rects[i], b = rects[j];
      const w = Math.min(a.right, b.right) - Math.max(a.left, b.left);
      const h = Math.min(a.bottom, b.bottom) - Math.max(a.top, b.top);
      if (w > TOL && h > TOL && !controls[i].contains(controls[j]) && !controls[j].contains(controls[i])) {
        out.push(name(controls[i]) + " overlaps " + name(controls[j]) + " (" + Math.round(w) + "x" + Math.round(h) + " px)");
      }
    }
  }
  return out;
}
