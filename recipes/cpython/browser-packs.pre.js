// wasmforge: the stdlib packs of the browser build (linked into python.js with --pre-js).
//
// python.data holds the stdlib's core; every other top-level module is packs/<name>.zip next to
// python.js, listed in /usr/local/lib/wasmforge-packs/index.json (preloaded with the core).
// _wasmforge_packs.py imports from /usr/local/lib/wasmforge-packs/<name>.zip. An extension pack
// (a side module, with the side-modules flag), packs/<name>.wasm, goes to the index's dynload_dir
// (lib-dynload) under its library name, where the path finder loads it with dlopen.
//
// - In a Web Worker and under Node, each pack is a file whose bytes are fetched (synchronously)
//   the first time Python reads it: an import just works.
// - On a page's main thread a synchronous fetch is not allowed, so packs arrive only through
//     await Module.loadPackages(["json", "sqlite3"])
//     await Module.loadPackagesFromImports(code)
//   which fetch the named packs and every pack they import at module level, in parallel. Both
//   work everywhere (in a worker they fetch ahead instead of on first read) and resolve to the
//   names of the packs fetched.

(function wfStdlibPacks() {
  "use strict";
  if (Module.loadPackages) return; // linked in twice: the first copy has done it all
  const PACK_DIR = "/usr/local/lib/wasmforge-packs";
  let index = null;

  function readIndex() {
    if (index === null) index = JSON.parse(FS.readFile(PACK_DIR + "/index.json", { encoding: "utf8" }));
    return index;
  }

  function packUrl(pack) {
    return locateFile("packs/" + pack.file);
  }

  function packPath(pack) {
    return pack.kind === "extension" ? `${readIndex().dynload_dir}/${pack.library}` : `${PACK_DIR}/${pack.file}`;
  }

  function checkedBytes(name, pack, bytes) {
    if (bytes.length !== pack.size) {
      throw new Error(`wasmforge: stdlib pack ${name} from ${packUrl(pack)}: ${bytes.length} bytes, expected ${pack.size}`);
    }
    return bytes;
  }

  function fetchSync(name, pack) {
    if (ENVIRONMENT_IS_NODE) {
      return checkedBytes(name, pack, new Uint8Array(require("fs").readFileSync(packUrl(pack))));
    }
    const request = new XMLHttpRequest();
    request.open("GET", packUrl(pack), false);
    request.responseType = "arraybuffer";
    request.send(null);
    if (request.status !== 200) {
      throw new Error(`wasmforge: stdlib pack ${name}: HTTP ${request.status} from ${packUrl(pack)}`);
    }
    return checkedBytes(name, pack, new Uint8Array(request.response));
  }

  // A MEMFS file whose size is known from the index and whose contents arrive on first read.
  function addLazyPack(name, pack) {
    const path = packPath(pack);
    FS.writeFile(path, new Uint8Array(0));
    const node = FS.lookupPath(path).node;
    let bytes = null;
    Object.defineProperty(node, "contents", {
      configurable: true,
      get() {
        if (bytes === null) {
          try {
            bytes = fetchSync(name, pack);
          } catch (error) {
            err(String(error));
            throw new FS.ErrnoError(29); // EIO: Python sees an OSError naming the file
          }
        }
        return bytes;
      },
      set(value) {
        bytes = value;
      },
    });
    node.usedBytes = pack.size;
    FS.chmod(path, 0o444);
  }

  // The packs that `names` (module names) need: their own and every pack those import at module
  // level, transitively. A name in the core brings what the core's modules import.
  function packsFor(names) {
    const { packs, core, core_imports: coreImports } = readIndex();
    const pending = names.flatMap((name) => {
      const top = name.split(".")[0];
      return core.includes(top) ? coreImports : [top];
    });
    const wanted = new Set();
    while (pending.length > 0) {
      const name = pending.pop();
      if (packs[name] === undefined || wanted.has(name)) continue;
      wanted.add(name);
      pending.push(...packs[name].imports);
    }
    return [...wanted].sort();
  }

  function isLoaded(pack) {
    const found = FS.analyzePath(packPath(pack));
    if (!found.exists) return false;
    const descriptor = Object.getOwnPropertyDescriptor(found.object, "contents");
    return !(descriptor && descriptor.get);
  }

  async function loadPackages(names) {
    const packs = readIndex().packs;
    const missing = packsFor(names).filter((name) => !isLoaded(packs[name]));
    await Promise.all(missing.map(async (name) => {
      const pack = packs[name];
      const response = await fetch(packUrl(pack));
      if (!response.ok) throw new Error(`wasmforge: stdlib pack ${name}: HTTP ${response.status} from ${packUrl(pack)}`);
      const bytes = checkedBytes(name, pack, new Uint8Array(await response.arrayBuffer()));
      const path = packPath(pack);
      if (FS.analyzePath(path).exists) FS.unlink(path);
      FS.writeFile(path, bytes);
    }));
    return missing;
  }

  // The top-level names after `import` and `from ... import` (not relative ones): enough to
  // fetch what code needs before it runs; a name that is not a pack is skipped.
  function importedNames(code) {
    const names = new Set();
    const statement = /^[ \t]*(?:from[ \t]+([A-Za-z_][\w.]*)[ \t]+import\b|import[ \t]+([^#\n;]+))/gm;
    for (const match of code.matchAll(statement)) {
      if (match[1]) names.add(match[1]);
      if (match[2]) {
        for (const part of match[2].split(",")) {
          const name = part.trim().split(/[ \t]+/)[0].replace(/[()\\]/g, "");
          if (name) names.add(name);
        }
      }
    }
    return [...names];
  }

  Module.loadPackages = loadPackages;
  Module.loadPackagesFromImports = (code) => loadPackages(importedNames(code));

  // After the preloaded data is in the file system and before main runs.
  const userInitialized = Module.onRuntimeInitialized;
  Module.onRuntimeInitialized = () => {
    if (FS.analyzePath(PACK_DIR + "/index.json").exists && (ENVIRONMENT_IS_WORKER || ENVIRONMENT_IS_NODE)) {
      const packs = readIndex().packs;
      for (const name of Object.keys(packs)) addLazyPack(name, packs[name]);
    }
    if (userInitialized) return userInitialized();
  };
})();
