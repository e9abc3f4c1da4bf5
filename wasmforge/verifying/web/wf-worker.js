// wasmforge: runs an artifact's python.js (the classic Emscripten loader) in a dedicated worker.
//
// A worker, not the page, because a Python run blocks the thread it runs on: a regression test
// run takes minutes, and the REPL's stdin blocks (Atomics.wait) until the user submits input.
//
// Messages from the page:
//   {type: "run", args: [...], bundle?: URL, files?: {path: text}, collect?: [path],
//    stdin?: SharedArrayBuffer, interrupt?: SharedArrayBuffer}
// Messages to the page:
//   {type: "ready"}                      the runtime is up and python.data is in the file system
//   {type: "stdout" | "stderr", text}    whole lines (or what was pending when Python waits)
//   {type: "stdin"}                      Python is blocked reading stdin: answer through the buffer
//   {type: "exit", code, collected}      main returned (or, with pthreads, main's thread ended);
//                                        collected maps path to file text
//   {type: "crash", message}             the runtime threw (a trap, an abort)

"use strict";

const STREAMS = ["stdout", "stderr"];
const pending = { stdout: [], stderr: [] };
const decoders = { stdout: new TextDecoder(), stderr: new TextDecoder() };

function flush(stream) {
  if (pending[stream].length === 0) return;
  const text = decoders[stream].decode(new Uint8Array(pending[stream]), { stream: true });
  pending[stream] = [];
  if (text) postMessage({ type: stream, text });
}

function flushAll() {
  STREAMS.forEach(flush);
}

// Emscripten hands output over byte by byte; a line is posted as soon as it ends.
function writer(stream) {
  return (byte) => {
    if (byte === null || byte === undefined) return;
    pending[stream].push(byte & 0xff);
    if (byte === 10) flush(stream);
  };
}

// Blocking stdin over a SharedArrayBuffer: Int32 control word at 0, bytes from offset 8.
// control = -1: the worker waits; n >= 0: the page wrote n bytes (0 means end of input).
let stdinControl = null;
let stdinData = null;
let queue = new Uint8Array(0);
let position = 0;
let endedRead = true;

function requestInput() {
  flushAll();
  Atomics.store(stdinControl, 0, -1);
  postMessage({ type: "stdin" });
  Atomics.wait(stdinControl, 0, -1);
  const length = Atomics.load(stdinControl, 0);
  queue = stdinData.slice(0, length);
  position = 0;
}

// Emscripten calls this once per byte until it returns null, which ends one read(): so one
// null after each delivered chunk, and only the read after that blocks for new input.
function readByte() {
  if (stdinControl === null) return null;
  if (position < queue.length) return queue[position++];
  if (!endedRead) {
    endedRead = true;
    return null;
  }
  requestInput();
  endedRead = false;
  return position < queue.length ? queue[position++] : null;
}

let markReady;
const ready = new Promise((resolve) => { markReady = resolve; });

let currentJob = null;
let exited = false;

// The run ends once, by an exit or a crash, whichever comes first.
function end(message) {
  if (exited) return;
  exited = true;
  flushAll();
  postMessage(message);
}

function finish(code) {
  end({ type: "exit", code, collected: collect(currentJob && currentJob.collect) });
}

function crash(error) {
  end({ type: "crash", message: String((error && error.stack) || error) });
}

var Module = {
  noInitialRun: true,
  // A pthreads build starts each thread as a worker of its own that loads python.js; by default
  // emscripten would give those workers this worker's script instead.
  mainScriptUrlOrBlob: "python.js",
  stdin: readByte,
  stdout: writer("stdout"),
  stderr: writer("stderr"),
  onRuntimeInitialized: () => {
    markReady();
    postMessage({ type: "ready" });
  },
  // Only a build linked with EXIT_RUNTIME calls this: the pthreads build, whose main() runs on a
  // thread of its own (PROXY_TO_PTHREAD) and ends after callMain has returned.
  onExit: finish,
  // A thread's abort reaches this worker here, not as an exception from callMain.
  onAbort: (what) => crash(`abort: ${what}`),
};

// In a pthreads build (always PROXY_TO_PTHREAD here) callMain only starts main's thread.
function mainRunsOnItsOwnThread() {
  return typeof PThread === "object";
}

function dirname(path) {
  return path.slice(0, path.lastIndexOf("/")) || "/";
}

function writeFile(path, data) {
  FS.mkdirTree(dirname(path));
  FS.writeFile(path, data);
}

// A bundle is URL.json (a list of [path, size]) plus URL.bin (the files' bytes, concatenated).
async function writeBundle(url) {
  const [index, blob] = await Promise.all([
    fetch(url + ".json").then((response) => response.json()),
    fetch(url + ".bin").then((response) => response.arrayBuffer()),
  ]);
  const bytes = new Uint8Array(blob);
  let offset = 0;
  for (const [path, size] of index) {
    writeFile(path, bytes.subarray(offset, offset + size));
    offset += size;
  }
}

// CPython checks Module.Py_EmscriptenSignalBuffer every few bytecodes once the flag is set:
// a non-zero signal number written there by the page raises KeyboardInterrupt (SIGINT = 2).
// The flag's address comes from the instance's relocated exports: in a MAIN_MODULE build
// (emscripten 3.1.69) the constant python.js puts on Module._Py_EMSCRIPTEN_SIGNAL_HANDLING
// points elsewhere, and writing there changes nothing.
function signalFlagAddress() {
  const exported = typeof wasmExports === "object" ? wasmExports.Py_EMSCRIPTEN_SIGNAL_HANDLING : undefined;
  return typeof exported === "number" ? exported : Module._Py_EMSCRIPTEN_SIGNAL_HANDLING;
}

function enableInterrupts(buffer) {
  const flag = signalFlagAddress();
  if (typeof flag !== "number") return false;
  Module.Py_EmscriptenSignalBuffer = new Uint8Array(buffer);
  HEAP8[flag] = 1;
  return true;
}

function collect(paths) {
  const collected = {};
  for (const path of paths || []) {
    try {
      collected[path] = FS.readFile(path, { encoding: "utf8" });
    } catch (error) {
      // Missing means the run did not write it; the caller decides what that says.
    }
  }
  return collected;
}

onmessage = async (event) => {
  const job = event.data;
  if (job.type !== "run") return;
  await ready;
  try {
    if (job.bundle) await writeBundle(job.bundle);
    for (const [path, text] of Object.entries(job.files || {})) writeFile(path, text);
    if (job.stdin) {
      stdinControl = new Int32Array(job.stdin, 0, 2);
      stdinData = new Uint8Array(job.stdin, 8);
    }
    const interrupts = job.interrupt ? enableInterrupts(job.interrupt) : false;
    postMessage({ type: "started", interrupts });
    currentJob = job;
    const code = callMain(job.args);
    if (!mainRunsOnItsOwnThread()) finish(code);
  } catch (error) {
    crash(error);
  }
};

importScripts("python.js");
