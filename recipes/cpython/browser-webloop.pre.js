// wasmforge: Python with asyncio on a page's main thread (linked into python.js with --pre-js).
//
//     const value = await Module.runPythonAsync(code);
//
// runs `code` in an interpreter that stays up between calls (one namespace, like a REPL), with
// top-level `await` allowed and asyncio's loop driven by this page's event loop: an
// `await asyncio.sleep(1)` leaves the page free for that second. It resolves to the value of the
// code's last expression (JSON values as themselves, anything else as its repr) and rejects with
// the traceback. The stdlib packs the code imports are fetched first (loadPackagesFromImports).
// Use it or callMain, not both: main finalizes the interpreter when it returns.
//
// The Python half is _wasmforge_webloop (browser_webloop.py). It asks for each turn of its loop
// and reports results by writing JSON messages to the device /dev/wasmforge-host; each turn is
// a PyRun_SimpleString call from a setTimeout callback.

(function wfRunPythonAsync() {
  "use strict";
  if (Module.runPythonAsync) return; // linked in twice: the first copy has done it all
  const HOST_DEVICE = "/dev/wasmforge-host";
  const HOST_DEVICE_NUMBER = [64, 0]; // a major number emscripten's own devices do not use
  const settlers = new Map();
  let nextRun = 1;
  let started = false;
  let turnTimer = null;
  let turnDue = Infinity;

  function exported(name) {
    const fn = wasmExports[name];
    if (typeof fn !== "function") throw new Error(`wasmforge: python.wasm does not export ${name}`);
    return fn;
  }

  // PyRun_SimpleString: 0 when the source ran, -1 when it raised (the traceback went to stderr).
  function runSource(source) {
    const bytes = new TextEncoder().encode(source + "\0");
    const pointer = exported("malloc")(bytes.length);
    HEAPU8.set(bytes, pointer); // after malloc, which may have grown (and replaced) the heap
    try {
      return exported("PyRun_SimpleStringFlags")(pointer, 0);
    } finally {
      exported("free")(pointer);
    }
  }

  function turn() {
    turnTimer = null;
    turnDue = Infinity;
    runSource("import _wasmforge_webloop\n_wasmforge_webloop.turn()\n");
  }

  function requestTurn(delayMs) {
    const due = performance.now() + delayMs;
    if (turnTimer !== null && turnDue <= due) return;
    if (turnTimer !== null) clearTimeout(turnTimer);
    turnDue = due;
    turnTimer = setTimeout(turn, delayMs);
  }

  function receive(message) {
    if (message.turn !== undefined) requestTurn(message.turn);
    if (message.settle !== undefined) {
      const settler = settlers.get(message.settle);
      settlers.delete(message.settle);
      if (message.error !== undefined) settler.reject(new Error(message.error));
      else settler.resolve(message.value);
    }
  }

  function registerHostDevice() {
    const device = FS.makedev(...HOST_DEVICE_NUMBER);
    const decoder = new TextDecoder();
    FS.registerDevice(device, {
      open() {},
      close() {},
      read() {
        return 0;
      },
      write(stream, buffer, offset, length) {
        receive(JSON.parse(decoder.decode(buffer.subarray(offset, offset + length))));
        return length;
      },
    });
    FS.mkdev(HOST_DEVICE, device);
  }

  function startInterpreter() {
    if (started) return;
    exported("Py_InitializeEx")(0); // 0: leave signal handlers alone, as an embedded interpreter
    if (runSource("import _wasmforge_webloop\n_wasmforge_webloop.install()\n") !== 0) {
      throw new Error("wasmforge: the interpreter started but its web event loop did not (see stderr)");
    }
    started = true;
  }

  Module.runPythonAsync = async (code) => {
    await Module.loadPackages(["_wasmforge_webloop"]);
    await Module.loadPackagesFromImports(code);
    startInterpreter();
    const run = nextRun++;
    const result = new Promise((resolve, reject) => settlers.set(run, { resolve, reject }));
    if (runSource(`import _wasmforge_webloop\n_wasmforge_webloop.start(${run}, ${JSON.stringify(code)})\n`) !== 0) {
      settlers.delete(run);
      throw new Error("wasmforge: runPythonAsync could not start the code (see stderr)");
    }
    return result;
  };

  const userInitialized = Module.onRuntimeInitialized;
  Module.onRuntimeInitialized = () => {
    registerHostDevice();
    if (userInitialized) return userInitialized();
  };
})();
