// medledger: small progressive enhancements only; every form works without JavaScript. No inline script
// or handler anywhere: the content-security policy allows scripts from this origin only.
"use strict";

// The explorer's proof, checked here in the browser without trusting the page's own claims (web/explorer.rs
// puts the data and every text in data- attributes of #proof):
//  1. the checkpoint's canonical bytes are decoded here (borsh, docs/formats.md "Checkpoints"): the root
//     and tree size come from the signed bytes, and must be the ones the page shows;
//  2. their Ed25519 signature verifies with the key in the signer's certificate;
//  3. that certificate's issuer is the subject of one of the organization root certificates, whose key
//     verifies its Ed25519 signature; it names a peer (OU) of that organization (O) and was valid at the
//     checkpoint's time (revocation is not checked here);
//  4. leaf = SHA-256(0x00 || envelope) must be the proof's leaf hash (when the envelope is withheld from
//     the reader, the given leaf hash is used), then up the audit path as RFC 9162 §2.1.3.2 says, and the
//     result must equal the signed root.
// When all hold, the root certificate's SHA-256 fingerprint (computed here) and the signed root are shown
// for a person to compare with a fingerprint published elsewhere: a compromised node could have made up
// a whole consistent set of root, certificate and signature, and only that comparison can tell.
// Sizes are BigInts: a ledger may outgrow the 32 bits JavaScript's bit operators work on.
(function () {
  var proof = document.getElementById("proof");
  var status = document.getElementById("proof-status");
  if (!proof || !status) { return; }
  var data = proof.dataset;
  var checked = document.getElementById("proof-checked");
  function show(ok, reason) {
    status.textContent = ok ? data.textVerified : data.textNotVerified + ": " + reason;
    status.className = ok ? "verified" : "not-verified";
    status.setAttribute("data-verified", ok ? "true" : "false");
  }
  if (!window.crypto || !window.crypto.subtle) { show(false, data.textNoWebcrypto); return; }

  // A refusal: `reason` is the text to show.
  function Refusal(reason) { this.reason = reason; }

  // --- bytes ------------------------------------------------------------------------------------------
  function hexToBytes(hex) {
    if (!/^([0-9a-fA-F]{2})*$/.test(hex)) { throw new Error("hex"); }
    var out = new Uint8Array(hex.length / 2);
    for (var i = 0; i < out.length; i++) { out[i] = parseInt(hex.substr(i * 2, 2), 16); }
    return out;
  }
  function base64ToBytes(text) {
    var binary = atob(text);
    var out = new Uint8Array(binary.length);
    for (var i = 0; i < binary.length; i++) { out[i] = binary.charCodeAt(i); }
    return out;
  }
  function toHex(bytes) {
    return Array.prototype.map.call(bytes, function (b) { return ("0" + b.toString(16)).slice(-2); }).join("");
  }
  function equalBytes(a, b) {
    if (a.length !== b.length) { return false; }
    for (var i = 0; i < a.length; i++) { if (a[i] !== b[i]) { return false; } }
    return true;
  }
  function concat(prefix, a, b) {
    var out = new Uint8Array(1 + a.length + (b ? b.length : 0));
    out[0] = prefix; out.set(a, 1); if (b) { out.set(b, 1 + a.length); }
    return out;
  }
  function sha256(bytes) {
    return crypto.subtle.digest("SHA-256", bytes).then(function (d) { return new Uint8Array(d); });
  }

  // --- a minimal DER reader: only what an Ed25519 X.509 certificate needs -----------------------------
  // An element at `offset` that must end by `limit`: its tag, where it starts (`offset`), where its
  // content starts and where it ends. Definite, minimal lengths of at most 4 bytes; single-byte tags.
  function derAt(bytes, offset, limit) {
    if (offset + 2 > limit) { throw new Error("DER: truncated"); }
    var tag = bytes[offset];
    if ((tag & 0x1f) === 0x1f) { throw new Error("DER: multi-byte tag"); }
    var first = bytes[offset + 1];
    var length;
    var start;
    if (first < 0x80) {
      length = first;
      start = offset + 2;
    } else {
      var count = first & 0x7f;
      if (count === 0 || count > 4) { throw new Error("DER: length"); }
      if (offset + 2 + count > limit) { throw new Error("DER: truncated"); }
      if (bytes[offset + 2] === 0) { throw new Error("DER: non-minimal length"); }
      length = 0;
      for (var i = 0; i < count; i++) { length = length * 256 + bytes[offset + 2 + i]; }
      if (length < 0x80) { throw new Error("DER: non-minimal length"); }
      start = offset + 2 + count;
    }
    if (length > limit - start) { throw new Error("DER: overruns its container"); }
    return { tag: tag, offset: offset, start: start, end: start + length };
  }
  // The elements inside `element`, which must fill it exactly.
  function derChildren(bytes, element) {
    var out = [];
    var at = element.start;
    while (at < element.end) {
      var child = derAt(bytes, at, element.end);
      out.push(child);
      at = child.end;
    }
    return out;
  }
  function expectTag(element, tag) {
    if (element.tag !== tag) { throw new Error("DER: tag " + element.tag + ", expected " + tag); }
    return element;
  }
  var SEQUENCE = 0x30, SET = 0x31, INTEGER = 0x02, BIT_STRING = 0x03, OID = 0x06;
  var UTC_TIME = 0x17, GENERALIZED_TIME = 0x18, VERSION = 0xa0;
  var ED25519_OID = "2b6570"; // 1.3.101.112
  var NAME_OIDS = { "550403": "cn", "55040a": "o", "55040b": "ou" };

  // An AlgorithmIdentifier that must be Ed25519 (no parameters, RFC 8410).
  function expectEd25519(bytes, element) {
    var parts = derChildren(bytes, expectTag(element, SEQUENCE));
    if (parts.length !== 1 || toHex(bytes.subarray(expectTag(parts[0], OID).start, parts[0].end)) !== ED25519_OID) {
      throw new Error("not Ed25519");
    }
  }
  // A BIT STRING with no unused bits, as bytes.
  function bitString(bytes, element) {
    expectTag(element, BIT_STRING);
    if (element.end - element.start < 1 || bytes[element.start] !== 0) { throw new Error("DER: bit string"); }
    return bytes.subarray(element.start + 1, element.end);
  }
  // A Name's CN, O and OU (the last of each), as text.
  function nameOf(bytes, element) {
    var name = {};
    derChildren(bytes, expectTag(element, SEQUENCE)).forEach(function (set) {
      derChildren(bytes, expectTag(set, SET)).forEach(function (pair) {
        var parts = derChildren(bytes, expectTag(pair, SEQUENCE));
        if (parts.length !== 2) { throw new Error("DER: name attribute"); }
        var key = NAME_OIDS[toHex(bytes.subarray(expectTag(parts[0], OID).start, parts[0].end))];
        if (key) { name[key] = new TextDecoder("utf-8", { fatal: true }).decode(bytes.subarray(parts[1].start, parts[1].end)); }
      });
    });
    return name;
  }
  // UTCTime (YYMMDDHHMMSSZ, years 1950–2049) or GeneralizedTime (YYYYMMDDHHMMSSZ), in ms since 1970.
  function timeOf(bytes, element) {
    var text = String.fromCharCode.apply(null, bytes.subarray(element.start, element.end));
    var match;
    if (element.tag === UTC_TIME && (match = /^(\d\d)(\d\d)(\d\d)(\d\d)(\d\d)(\d\d)Z$/.exec(text))) {
      var yy = Number(match[1]);
      match[1] = String(yy < 50 ? 2000 + yy : 1900 + yy);
    } else if (element.tag !== GENERALIZED_TIME || !(match = /^(\d{4})(\d\d)(\d\d)(\d\d)(\d\d)(\d\d)Z$/.exec(text))) {
      throw new Error("DER: time");
    }
    return Date.UTC(Number(match[1]), Number(match[2]) - 1, Number(match[3]), Number(match[4]), Number(match[5]), Number(match[6]));
  }
  // What the checks need of a certificate: the signed bytes, the signature, issuer and subject (DER
  // bytes and attributes), validity and the Ed25519 public key.
  function parseCertificate(der) {
    var outer = expectTag(derAt(der, 0, der.length), SEQUENCE);
    if (outer.end !== der.length) { throw new Error("DER: trailing bytes"); }
    var parts = derChildren(der, outer);
    if (parts.length !== 3) { throw new Error("DER: certificate"); }
    var tbs = expectTag(parts[0], SEQUENCE);
    expectEd25519(der, parts[1]);
    var signature = bitString(der, parts[2]);
    var fields = derChildren(der, tbs);
    var i = fields.length > 0 && fields[0].tag === VERSION ? 1 : 0;
    if (fields.length < i + 6) { throw new Error("DER: tbsCertificate"); }
    expectTag(fields[i], INTEGER);
    expectEd25519(der, fields[i + 1]);
    var issuer = fields[i + 2];
    var validity = derChildren(der, expectTag(fields[i + 3], SEQUENCE));
    if (validity.length !== 2) { throw new Error("DER: validity"); }
    var subject = fields[i + 4];
    var spki = derChildren(der, expectTag(fields[i + 5], SEQUENCE));
    if (spki.length !== 2) { throw new Error("DER: subjectPublicKeyInfo"); }
    expectEd25519(der, spki[0]);
    var publicKey = bitString(der, spki[1]);
    if (publicKey.length !== 32 || signature.length !== 64) { throw new Error("Ed25519 sizes"); }
    return {
      der: der,
      tbs: der.subarray(tbs.offset, tbs.end),
      signature: signature,
      issuerDer: der.subarray(issuer.offset, issuer.end),
      subjectDer: der.subarray(subject.offset, subject.end),
      subject: nameOf(der, subject),
      notBeforeMs: timeOf(der, validity[0]),
      notAfterMs: timeOf(der, validity[1]),
      publicKey: publicKey,
    };
  }

  // --- the signed checkpoint (borsh) ------------------------------------------------------------------
  // Checkpoint { format_version: u8 (CHECKPOINT_FORMAT_VERSION), channel: String (u32 LE length +
  // UTF-8), block_number: u64, tree_size: u64, root: [u8; 32], timestamp_ms: i64 }, little-endian,
  // nothing after. The version is the ledger's FORMAT_VERSION (a test in the web crate keeps them equal).
  var CHECKPOINT_FORMAT_VERSION = 2;
  function parseCheckpoint(bytes) {
    var view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    if (bytes.length < 1 + 4 || bytes[0] !== CHECKPOINT_FORMAT_VERSION) { throw new Error("checkpoint version"); }
    var channelLength = view.getUint32(1, true);
    var at = 5 + channelLength;
    if (channelLength > bytes.length || at + 8 + 8 + 32 + 8 !== bytes.length) { throw new Error("checkpoint length"); }
    return {
      blockNumber: view.getBigUint64(at, true),
      treeSize: view.getBigUint64(at + 8, true),
      root: bytes.slice(at + 16, at + 48),
      timestampMs: Number(view.getBigInt64(at + 48, true)),
    };
  }

  // --- Ed25519 with WebCrypto ------------------------------------------------------------------------
  async function ed25519Verify(publicKey, signature, message) {
    var key;
    try {
      key = await crypto.subtle.importKey("raw", publicKey, { name: "Ed25519" }, false, ["verify"]);
    } catch (e) {
      if (e && e.name === "NotSupportedError") { throw new Refusal(data.textNoEd25519); }
      return false; // a key WebCrypto refuses (not a point on the curve) verifies nothing
    }
    return crypto.subtle.verify({ name: "Ed25519" }, key, signature, message);
  }

  // RFC 9162 §2.1.3.2: the root that `path` leads to from `leaf` at `index` in a tree of `size`, or null.
  async function rootFromPath(leaf, index, size, path) {
    if (index >= size) { return null; }
    var fn = index, sn = size - 1n;
    var r = leaf;
    for (var k = 0; k < path.length; k++) {
      var p = path[k];
      if (sn === 0n) { return null; }
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
    return sn === 0n ? r : null;
  }

  // The fingerprint as `openssl x509 -noout -fingerprint -sha256` prints it: AB:CD:...
  function fingerprintText(digest) {
    return toHex(digest).toUpperCase().match(/../g).join(":");
  }

  var input;
  try {
    var roots = (data.rootCertificates || "").split(",").filter(function (c) { return c.length > 0; })
      .map(function (c) { return parseCertificate(base64ToBytes(c)); });
    input = {
      envelope: data.envelope === undefined ? null : base64ToBytes(data.envelope),
      leafHash: hexToBytes(data.leafHash || ""),
      index: BigInt(data.leafIndex),
      size: BigInt(data.treeSize),
      path: (data.auditPath || "").split(",").filter(function (h) { return h.length > 0; }).map(hexToBytes),
      pageRoot: (data.root || "").toLowerCase(),
      checkpointBytes: base64ToBytes(data.checkpoint || ""),
      signature: hexToBytes(data.signature || ""),
      signer: parseCertificate(base64ToBytes(data.signerCertificate || "")),
      roots: roots,
    };
    input.checkpoint = parseCheckpoint(input.checkpointBytes);
    if (input.leafHash.length !== 32 || input.signature.length !== 64 ||
        input.path.some(function (h) { return h.length !== 32; })) { throw new Error("length"); }
  } catch (e) { show(false, data.textBadData); return; }
  status.textContent = data.textVerifying;

  (async function () {
    var checkpoint = input.checkpoint, signer = input.signer;
    // The signer's certificate, issued by an organization root (issuer name, then signature).
    var root = input.roots.find(function (r) { return equalBytes(r.subjectDer, signer.issuerDer); });
    if (!root || !(await ed25519Verify(root.publicKey, signer.signature, signer.tbs))) {
      throw new Refusal(data.textChainMismatch);
    }
    if (signer.subject.ou !== "peer" || signer.subject.o === undefined || signer.subject.o !== root.subject.o) {
      throw new Refusal(data.textSignerNotPeer);
    }
    if (checkpoint.timestampMs < signer.notBeforeMs || checkpoint.timestampMs > signer.notAfterMs) {
      throw new Refusal(data.textSignerNotValid);
    }
    // The checkpoint, signed by that certificate's key.
    if (!(await ed25519Verify(signer.publicKey, input.signature, input.checkpointBytes))) {
      throw new Refusal(data.textSignatureMismatch);
    }
    // The page shows the signed root and size.
    if (toHex(checkpoint.root) !== input.pageRoot || checkpoint.treeSize !== input.size) {
      throw new Refusal(data.textRootDiffers);
    }
    // The leaf, and the path from it to the signed root.
    if (input.envelope !== null && !equalBytes(await sha256(concat(0, input.envelope)), input.leafHash)) {
      throw new Refusal(data.textLeafDiffers);
    }
    var reached = await rootFromPath(input.leafHash, input.index, checkpoint.treeSize, input.path);
    if (reached === null || !equalBytes(reached, checkpoint.root)) { throw new Refusal(data.textMismatch); }
    return { root: root, fingerprint: await sha256(root.der) };
  })().then(function (result) {
    if (checked) {
      document.getElementById("root-fingerprint").textContent = fingerprintText(result.fingerprint);
      document.getElementById("signed-root").textContent = toHex(input.checkpoint.root);
      var subject = input.signer.subject;
      document.getElementById("checkpoint-signer").textContent =
        [subject.cn, subject.ou, subject.o].filter(function (s) { return s; }).join(" · ");
      checked.hidden = false;
    }
    show(true);
  }, function (e) {
    if (e instanceof Refusal) { show(false, e.reason); return; }
    show(false, (data.textFailed || "{reason}").replace("{reason}", String(e && e.message || e)));
  });
})();
