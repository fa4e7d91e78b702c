// medledger: small progressive enhancements only; every form works without JavaScript.
"use strict";

// The explorer's inclusion proof, checked here in the browser (web/explorer.rs puts the data and every
// text in data- attributes of #proof): leaf = SHA-256(0x00 || envelope), then up the audit path as RFC 9162
// §2.1.3.2 says, and the result must equal the checkpoint's root. Sizes are BigInts: a ledger may outgrow
// the 32 bits JavaScript's bit operators work on.
(function () {
  var proof = document.getElementById("proof");
  var status = document.getElementById("proof-status");
  if (!proof || !status) { return; }
  var data = proof.dataset;
  function show(ok, reason) {
    status.textContent = ok ? data.textVerified : data.textNotVerified + ": " + reason;
    status.className = ok ? "verified" : "not-verified";
    status.setAttribute("data-verified", ok ? "true" : "false");
  }
  if (!window.crypto || !window.crypto.subtle) { show(false, data.textNoWebcrypto); return; }
  function hexToBytes(hex) {
    if (!/^([0-9a-fA-F]{2})*$/.test(hex)) { throw new Error("hex"); }
    var out = new Uint8Array(hex.length / 2);
    for (var i = 0; i < out.length; i++) { out[i] = parseInt(hex.substr(i * 2, 2), 16); }
    return out;
  }
  function toHex(bytes) {
    return Array.prototype.map.call(bytes, function (b) { return ("0" + b.toString(16)).slice(-2); }).join("");
  }
  function concat(prefix, a, b) {
    var out = new Uint8Array(1 + a.length + (b ? b.length : 0));
    out[0] = prefix; out.set(a, 1); if (b) { out.set(b, 1 + a.length); }
    return out;
  }
  function sha256(bytes) {
    return crypto.subtle.digest("SHA-256", bytes).then(function (d) { return new Uint8Array(d); });
  }
  var envelope, index, size, path, root;
  try {
    var binary = atob(data.envelope || "");
    envelope = new Uint8Array(binary.length);
    for (var i = 0; i < binary.length; i++) { envelope[i] = binary.charCodeAt(i); }
    index = BigInt(data.leafIndex);
    size = BigInt(data.treeSize);
    path = (data.auditPath || "").split(",").filter(function (h) { return h.length > 0; }).map(hexToBytes);
    root = (data.root || "").toLowerCase();
    if (root.length !== 64 || path.some(function (h) { return h.length !== 32; })) { throw new Error("length"); }
  } catch (e) { show(false, data.textBadData); return; }
  status.textContent = data.textVerifying;
  (async function () {
    if (index >= size) { return false; }
    var fn = index, sn = size - 1n;
    var r = await sha256(concat(0, envelope));
    for (var k = 0; k < path.length; k++) {
      var p = path[k];
      if (sn === 0n) { return false; }
      if ((fn & 1n) === 1n || fn === sn) {
        r = await sha256(concat(1, p, r));
        if ((fn & 1n) === 0n) {
          while ((fn & 1n) === 0n && fn !== 0n) { fn >>= 1n; sn >>= 1n; }
        }
      } else {
        r = await sha256(concat(1, r, p));
      }
      fn >>= 1n; sn >>= 1n;
    }
    return sn === 0n && toHex(r) === root;
  })().then(function (ok) {
    show(ok, data.textMismatch);
  }, function (e) {
    show(false, (data.textFailed || "{reason}").replace("{reason}", String(e && e.message || e)));
  });
})();
