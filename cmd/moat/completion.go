package main

import (
	"bytes"
	"fmt"
	"io"
	"regexp"
	"slices"
	"strings"
)

// commands are moat's subcommands, for completion.
var commands = []string{"serve", "demo", "validate", "purge", "reload", "warm", "stats", "inspect", "top", "dashboard", "version", "completion"}

// flagLine matches a flag in flag.PrintDefaults' output.
var flagLine = regexp.MustCompile(`(?m)^  -([a-z][a-z0-9-]*)`)

// commandFlags returns cmd's flags, as its -h lists them.
func commandFlags(cmd string) []string {
	if cmd == "completion" || cmd == "version" || !slices.Contains(commands, cmd) {
		return nil
	}
	var out bytes.Buffer
	run([]string{cmd, "-h"}, io.Discard, &out)
	var flags []string
	for _, m := range flagLine.FindAllStringSubmatch(out.String(), -1) {
		flags = append(flags, "--"+m[1])
	}
	return flags
}

// cmdCompletion prints a completion script for bash or zsh; the hidden
// "completion __flags CMD" lists a command's flags for it.
func cmdCompletion(args []string, stdout, stderr io.Writer) int {
	if len(args) == 2 && args[0] == "__flags" {
		fmt.Fprintln(stdout, strings.Join(commandFlags(args[1]), " "))
		return 0
	}
	if len(args) != 1 || (args[0] != "bash" && args[0] != "zsh") {
		fmt.Fprintln(stderr, "usage: moat completion bash|zsh\n\n  bash: source <(moat completion bash)   (or save it in /etc/bash_completion.d/moat)\n  zsh:  source <(moat completion zsh)")
		return 2
	}
	script := bashCompletion
	if args[0] == "zsh" {
		script = "autoload -U +X bashcompinit && bashcompinit\n" + bashCompletion
	}
	fmt.Fprintf(stdout, script, strings.Join(commands, " "))
	return 0
}

const bashCompletion = `# moat completion (bash; zsh through bashcompinit)
_moat() {
  local cur=${COMP_WORDS[COMP_CWORD]}
  if [ "$COMP_CWORD" -eq 1 ]; then
    COMPREPLY=($(compgen -W "%s" -- "$cur"))
    return
  fi
  case "$cur" in
    -*) COMPREPLY=($(compgen -W "$(moat completion __flags "${COMP_WORDS[1]}" 2>/dev/null)" -- "$cur")) ;;
    *) COMPREPLY=($(compgen -f -- "$cur")) ;;
  esac
}
complete -F _moat moat
`
