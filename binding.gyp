{
  "variables": {
    # Test builds only, each into a folder of its own (test/helpers/addon-variant.ts):
    # failure injection (native/fault.h) and AddressSanitizer with UndefinedBehaviorSanitizer.
    # Set through GYP_DEFINES, e.g. GYP_DEFINES="forkwatch_sanitize=1".
    "forkwatch_fault_injection%": 0,
    "forkwatch_sanitize%": 0
  },
  "targets": [
    {
      "target_name": "forkwatch",
      "sources": ["native/addon.cc", "native/pending.cc", "native/proc_socket.cc"],
      "include_dirs": ["<!(node -p \"require('node-addon-api').include_dir\")"],
      # C++ exceptions let node-addon-api turn a failed syscall into a JS Error. Warnings
      # are errors: the addon is small enough to keep free of them.
      "cflags_cc": ["-std=c++17", "-fexceptions", "-Wall", "-Wextra", "-Werror", "-fvisibility=hidden"],
      "cflags_cc!": ["-fno-exceptions"],
      "defines": [
        # Node-API 8 is in every Node.js >= 12.22; pinning it means one build runs on all
        # the Node.js versions forkwatch supports.
        "NAPI_VERSION=8",
        "NODE_ADDON_API_DISABLE_DEPRECATED",
        "NAPI_CPP_EXCEPTIONS",
        # Any C++ exception that reaches node-addon-api (std::bad_alloc included) becomes
        # a JavaScript exception instead of ending the process without an unsubscribe.
        "NODE_ADDON_API_CPP_EXCEPTIONS_ALL",
        # ... except while Node.js shuts down, when JavaScript can no longer run: a call
        # still queued then fails, and node-addon-api would otherwise abort on it.
        "NODE_API_SWALLOW_UNTHROWABLE_EXCEPTIONS"
      ],
      "conditions": [
        ["OS!='linux'", { "type": "none" }],
        ["forkwatch_fault_injection==1", { "defines": ["FORKWATCH_FAULT_INJECTION"] }],
        ["forkwatch_sanitize==1", {
          "cflags_cc": ["-fsanitize=address,undefined", "-fno-omit-frame-pointer", "-g"],
          "ldflags": ["-fsanitize=address,undefined"]
        }]
      ]
    }
  ]
}
