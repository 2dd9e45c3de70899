// Live updates: follow GET /api/live and refresh the page's [data-live] region when its rows change.
// At most one refetch is in flight; events meanwhile are coalesced into one more. The banner
// #live-status (data-state: connecting, live, lost) says whether the page is following.
(() => {
  const region = document.querySelector("[data-live]");
  const banner = document.getElementById("live-status");
  if (!region || !banner || !window.EventSource || !window.fetch) return;
  const root = region.dataset.liveRoot;
  const feed = "/api/live" + (root ? "?root=" + encodeURIComponent(root) : "");
  const SPACING = 400; // ms between the starts of two refetches
  let source = null, lost = false, fetching = false, again = false;

  function say(state, text) {
    banner.hidden = false;
    banner.dataset.state = state;
    banner.textContent = text;
  }

  // Which <details> are open, keyed by their nearest element with an id and their rank under it.
  function openDetails(scope) {
    const keys = new Set();
    scope.querySelectorAll("details").forEach((d, i) => {
      const host = d.parentElement && d.parentElement.closest("[id]");
      const key = host ? host.id + "/" + [...host.querySelectorAll("details")].indexOf(d) : "#" + i;
      if (d.open) keys.add(key);
      d.dataset.liveKey = key;
    });
    return keys;
  }

  function swap(fresh) {
    const open = openDetails(region);
    openDetails(fresh);
    const [x, y] = [window.scrollX, window.scrollY];
    const old = [...region.children], now = [...fresh.children];
    if (old.length === now.length) {
      // Element by element, leaving alone what did not change and any form (what the user types).
      old.forEach((el, i) => { if (el.tagName !== "FORM" && !el.isEqualNode(now[i])) el.replaceWith(now[i]); });
    } else {
      region.replaceChildren(...now);
    }
    region.querySelectorAll("details").forEach((d) => { if (open.has(d.dataset.liveKey)) d.open = true; });
    window.scrollTo(x, y);
  }

  async function refresh() {
    if (fetching) { again = true; return; }
    fetching = true;
    try {
      do {
        again = false;
        const started = Date.now();
        const response = await fetch(location.href, { headers: { Accept: "text/html" } });
        if (response.ok) {
          const page = new DOMParser().parseFromString(await response.text(), "text/html");
          const fresh = page.querySelector("[data-live]");
          if (fresh) { swap(fresh); document.title = page.title; }
        }
        const wait = SPACING - (Date.now() - started);
        if (again && wait > 0) await new Promise((done) => setTimeout(done, wait));
      } while (again);
    } catch (err) {
      // the server went away: the stream's error says so, and its return refetches
    } finally {
      fetching = false;
    }
  }

  function connect() {
    if (!lost) say("connecting", "connecting to live updates…");
    source = new EventSource(feed);
    source.addEventListener("ready", () => {
      say("live", lost ? "live (reconnected)" : "live");
      if (lost) refresh(); // rows may have changed while the page was not following
      lost = false;
    });
    source.addEventListener("rows", refresh);
    source.addEventListener("resync", () => { say("live", "live (reconnected)"); lost = false; refresh(); });
    source.addEventListener("interrupted", () => { lost = true; say("lost", "connection lost — retrying"); });
    source.onerror = () => {
      lost = true;
      say("lost", "connection lost — retrying");
      if (source.readyState === EventSource.CLOSED) { // refused (a 401, a 503): the browser gives up, we do not
        source.close();
        setTimeout(connect, 5000);
      }
    };
  }

  connect();
})();
