package hostcheck

import (
	"fmt"
	"slices"
	"strings"
)

// The nftables ruleset is judged by following one packet through it: a new
// TCP (or UDP) connection from an Internet address, arriving on an
// interface that is not loopback, to the port in question. Only what the
// checks need is understood (tables, chains with their hook and policy,
// named sets, rules with ct state, iif/iifname, ip/ip6 saddr, meta
// l4proto/nfproto, tcp/udp/th dport, anonymous sets, verdict maps, jump,
// goto, return). A matcher it does not understand is taken to match when
// the rule accepts and not to match when it drops: the answer errs towards
// "open".

// nftToken is a word, a quoted string, a statement end, or a group
// {a, b, c} (its elements as text).
type nftToken struct {
	word   string
	quoted bool
	end    bool     // newline or ';'
	group  []string // non-nil for { ... }
}

func (t nftToken) String() string {
	switch {
	case t.end:
		return ";"
	case t.group != nil:
		return "{ " + strings.Join(t.group, ", ") + " }"
	case t.quoted:
		return `"` + t.word + `"`
	}
	return t.word
}

// nftLex splits ruleset text into tokens; a { } group that is a block
// (after table, chain, set …) is returned as "{" and "}" words, a group
// inside a statement as one token.
func nftLex(text string) ([]nftToken, error) {
	var out []nftToken
	lines := strings.Split(strings.ReplaceAll(text, "\\\n", " "), "\n")
	defines := map[string]string{}
	for n, line := range lines {
		line = stripNftComment(line)
		if f := strings.Fields(line); len(f) >= 3 && f[0] == "define" {
			name, val, _ := strings.Cut(strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(line), "define")), "=")
			defines[strings.TrimSpace(name)] = strings.TrimSpace(val)
			continue
		}
		if strings.Contains(line, "$") {
			line = expandNftDefines(line, defines)
		}
		if err := nftLexLine(line, &out); err != nil {
			return nil, fmt.Errorf("line %d: %w", n+1, err)
		}
		out = append(out, nftToken{end: true})
	}
	return nftGroups(out)
}

func stripNftComment(line string) string {
	inQuote := false
	for i := 0; i < len(line); i++ {
		switch line[i] {
		case '"':
			inQuote = !inQuote
		case '#':
			if !inQuote {
				return line[:i]
			}
		}
	}
	return line
}

func expandNftDefines(line string, defines map[string]string) string {
	names := make([]string, 0, len(defines))
	for n := range defines {
		names = append(names, n)
	}
	slices.SortFunc(names, func(a, b string) int { return len(b) - len(a) }) // $long before $lo
	for _, n := range names {
		line = strings.ReplaceAll(line, "$"+n, defines[n])
	}
	return line
}

func nftLexLine(line string, out *[]nftToken) error {
	for i := 0; i < len(line); {
		c := line[i]
		switch {
		case c == ' ' || c == '\t' || c == '\r':
			i++
		case c == ';':
			*out = append(*out, nftToken{end: true})
			i++
		case c == '{' || c == '}' || c == ',':
			*out = append(*out, nftToken{word: string(c)})
			i++
		case c == '"':
			end := strings.IndexByte(line[i+1:], '"')
			if end < 0 {
				return fmt.Errorf("unterminated quote")
			}
			*out = append(*out, nftToken{word: line[i+1 : i+1+end], quoted: true})
			i += end + 2
		default:
			j := i
			for j < len(line) && !strings.ContainsRune(" \t\r;{},\"", rune(line[j])) {
				j++
			}
			*out = append(*out, nftToken{word: line[i:j]})
			i = j
		}
	}
	return nil
}

// blockHeads are the statements whose braces open a block, not a set.
var blockHeads = map[string]bool{"table": true, "chain": true, "set": true, "map": true,
	"flowtable": true, "counter": true, "quota": true, "ct": true, "limit": true, "secmark": true, "synproxy": true}

// nftGroups folds the { } of expressions into group tokens, keeping block
// braces. A brace opens a block when its statement starts with a block
// head (table, chain, …) or is "add|create chain|set|…".
func nftGroups(in []nftToken) ([]nftToken, error) {
	var out []nftToken
	stmtStart := 0
	for i := 0; i < len(in); i++ {
		t := in[i]
		if t.end {
			out = append(out, t)
			stmtStart = len(out)
			continue
		}
		if t.word == "}" && !t.quoted {
			out = append(out, t)
			stmtStart = len(out)
			continue
		}
		if t.word != "{" || t.quoted {
			out = append(out, t)
			continue
		}
		stmt := out[stmtStart:]
		if isBlockStatement(stmt) {
			out = append(out, t)
			stmtStart = len(out)
			continue
		}
		// an expression group: collect its elements up to the matching }
		elems, next, err := nftCollectGroup(in, i+1)
		if err != nil {
			return nil, err
		}
		out = append(out, nftToken{group: elems})
		i = next
	}
	return out, nil
}

func isBlockStatement(stmt []nftToken) bool {
	if len(stmt) == 0 {
		return false
	}
	head := stmt[0].word
	if head == "add" || head == "create" {
		return len(stmt) > 1 && blockHeads[stmt[1].word] && stmt[1].word != "ct"
	}
	// "ct helper NAME {" is a block, "ct state {" is not
	if head == "ct" {
		return len(stmt) > 1 && (stmt[1].word == "helper" || stmt[1].word == "timeout" || stmt[1].word == "expectation")
	}
	if head == "counter" || head == "limit" || head == "quota" {
		return len(stmt) == 2 // "counter NAME {" declares; "counter accept" does not reach here
	}
	return blockHeads[head]
}

// nftCollectGroup reads the elements of a group from in[i:] up to its
// closing brace (nested groups included as text), returning the index of
// that brace.
func nftCollectGroup(in []nftToken, i int) ([]string, int, error) {
	elems := []string{}
	var cur []string
	depth := 0
	for ; i < len(in); i++ {
		t := in[i]
		switch {
		case t.end:
			continue // groups span lines
		case t.word == "{" && !t.quoted:
			depth++
			cur = append(cur, "{")
		case t.word == "}" && !t.quoted:
			if depth == 0 {
				if len(cur) > 0 {
					elems = append(elems, strings.Join(cur, " "))
				}
				return elems, i, nil
			}
			depth--
			cur = append(cur, "}")
		case t.word == "," && !t.quoted && depth == 0:
			if len(cur) > 0 {
				elems = append(elems, strings.Join(cur, " "))
			}
			cur = nil
		default:
			cur = append(cur, t.word)
		}
	}
	return nil, i, fmt.Errorf("unterminated {")
}

// NftRuleset is the part of an nftables ruleset the checks follow.
type NftRuleset struct {
	Tables []*NftTable
}

// An NftTable is a table with its chains and named sets.
type NftTable struct {
	Family, Name string
	Chains       []*NftChain
	Sets         map[string][]string // elements as text
}

// An NftChain is a chain; Hook is "" for a regular chain.
type NftChain struct {
	Name, Type, Hook, Policy string
	Rules                    [][]nftToken
}

func (t *NftTable) chain(name string) *NftChain {
	for _, c := range t.Chains {
		if c.Name == name {
			return c
		}
	}
	c := &NftChain{Name: name}
	t.Chains = append(t.Chains, c)
	return c
}

var nftFamilies = map[string]bool{"ip": true, "ip6": true, "inet": true, "arp": true, "bridge": true, "netdev": true}

// ParseNftRuleset parses the text of `nft list ruleset` or of a file for
// `nft -f` (tables in blocks, or add/insert commands).
func ParseNftRuleset(text string) (*NftRuleset, error) {
	toks, err := nftLex(text)
	if err != nil {
		return nil, err
	}
	rs := &NftRuleset{}
	p := &nftParser{toks: toks, rs: rs}
	if err := p.top(); err != nil {
		return nil, err
	}
	return rs, nil
}

type nftParser struct {
	toks []nftToken
	i    int
	rs   *NftRuleset
}

func (p *nftParser) table(family, name string) *NftTable {
	for _, t := range p.rs.Tables {
		if t.Family == family && t.Name == name {
			return t
		}
	}
	t := &NftTable{Family: family, Name: name, Sets: map[string][]string{}}
	p.rs.Tables = append(p.rs.Tables, t)
	return t
}

// statement returns the tokens up to the next statement end or block brace,
// and the brace ("{", "}" or "").
func (p *nftParser) statement() ([]nftToken, string) {
	var out []nftToken
	for p.i < len(p.toks) {
		t := p.toks[p.i]
		p.i++
		switch {
		case t.end:
			if len(out) > 0 {
				return out, ""
			}
		case !t.quoted && (t.word == "{" || t.word == "}"):
			return out, t.word
		default:
			out = append(out, t)
		}
	}
	return out, ""
}

// familyName reads "[family] name" at stmt[i:].
func familyName(stmt []nftToken, i int) (family, name string, next int) {
	if i < len(stmt) && nftFamilies[stmt[i].word] && i+1 < len(stmt) && stmt[i+1].group == nil {
		return stmt[i].word, stmt[i+1].word, i + 2
	}
	if i < len(stmt) {
		return "ip", stmt[i].word, i + 1
	}
	return "ip", "", i
}

func (p *nftParser) top() error {
	for p.i < len(p.toks) {
		stmt, brace := p.statement()
		if len(stmt) == 0 {
			if brace == "}" {
				return fmt.Errorf("unexpected }")
			}
			continue
		}
		words := stmt[0].word
		switch {
		case words == "table" && brace == "{":
			fam, name, _ := familyName(stmt, 1)
			if err := p.tableBlock(p.table(fam, name)); err != nil {
				return err
			}
		case words == "flush" && len(stmt) > 1 && stmt[1].word == "ruleset":
			p.rs.Tables = nil
		case (words == "add" || words == "create" || words == "insert") && len(stmt) > 1:
			if err := p.command(stmt, brace); err != nil {
				return err
			}
		case words == "delete" || words == "destroy":
			if len(stmt) > 1 && stmt[1].word == "table" {
				fam, name, _ := familyName(stmt, 2)
				p.rs.Tables = slices.DeleteFunc(p.rs.Tables, func(t *NftTable) bool { return t.Family == fam && t.Name == name })
			}
		default:
			if brace == "{" {
				if err := p.skipBlock(); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

// command is "add table|chain|set|element|rule …" and "insert rule …".
func (p *nftParser) command(stmt []nftToken, brace string) error {
	what := stmt[1].word
	fam, tname, i := familyName(stmt, 2)
	t := p.table(fam, tname)
	switch what {
	case "table":
		if brace == "{" {
			return p.tableBlock(t)
		}
	case "chain":
		if i >= len(stmt) {
			return nil
		}
		c := t.chain(stmt[i].word)
		if brace == "{" {
			return p.chainBlock(t, c)
		}
	case "set", "map":
		if i < len(stmt) && brace == "{" {
			return p.setBlock(t, stmt[i].word)
		}
	case "element":
		if i+1 < len(stmt) && stmt[i+1].group != nil {
			t.Sets[stmt[i].word] = append(t.Sets[stmt[i].word], stmt[i+1].group...)
		}
	case "rule":
		if i >= len(stmt) {
			return nil
		}
		c := t.chain(stmt[i].word)
		rule := stmt[i+1:]
		if len(rule) >= 2 && (rule[0].word == "position" || rule[0].word == "handle" || rule[0].word == "index") {
			rule = rule[2:]
		}
		if stmt[0].word == "insert" {
			c.Rules = append([][]nftToken{rule}, c.Rules...)
		} else {
			c.Rules = append(c.Rules, rule)
		}
	}
	if brace == "{" {
		return p.skipBlock()
	}
	return nil
}

func (p *nftParser) skipBlock() error {
	for depth := 1; p.i < len(p.toks); {
		_, brace := p.statement()
		switch brace {
		case "{":
			depth++
		case "}":
			if depth--; depth == 0 {
				return nil
			}
		}
	}
	return fmt.Errorf("unterminated {")
}

func (p *nftParser) tableBlock(t *NftTable) error {
	for p.i < len(p.toks) {
		stmt, brace := p.statement()
		if brace == "}" && len(stmt) == 0 {
			return nil
		}
		if len(stmt) == 0 {
			continue
		}
		var err error
		switch {
		case stmt[0].word == "chain" && len(stmt) > 1 && brace == "{":
			err = p.chainBlock(t, t.chain(stmt[1].word))
		case (stmt[0].word == "set" || stmt[0].word == "map") && len(stmt) > 1 && brace == "{":
			err = p.setBlock(t, stmt[1].word)
		case brace == "{":
			err = p.skipBlock()
		case brace == "}":
			return nil
		}
		if err != nil {
			return err
		}
	}
	return fmt.Errorf("table %s %s: unterminated {", t.Family, t.Name)
}

func (p *nftParser) chainBlock(t *NftTable, c *NftChain) error {
	for p.i < len(p.toks) {
		stmt, brace := p.statement()
		if len(stmt) > 0 {
			switch stmt[0].word {
			case "type":
				for j := 1; j+1 < len(stmt); j++ {
					if stmt[j].word == "hook" {
						c.Hook = stmt[j+1].word
					}
				}
				if len(stmt) > 1 {
					c.Type = stmt[1].word
				}
			case "policy":
				if len(stmt) > 1 {
					c.Policy = stmt[1].word
				}
			case "comment", "devices", "device", "priority":
			default:
				c.Rules = append(c.Rules, stmt)
			}
		}
		switch brace {
		case "}":
			return nil
		case "{":
			if err := p.skipBlock(); err != nil {
				return err
			}
		}
	}
	return fmt.Errorf("chain %s: unterminated {", c.Name)
}

func (p *nftParser) setBlock(t *NftTable, name string) error {
	for p.i < len(p.toks) {
		stmt, brace := p.statement()
		if len(stmt) >= 2 && stmt[0].word == "elements" {
			for _, tok := range stmt[1:] {
				if tok.group != nil {
					t.Sets[name] = append(t.Sets[name], tok.group...)
				}
			}
		}
		if _, ok := t.Sets[name]; !ok {
			t.Sets[name] = []string{}
		}
		switch brace {
		case "}":
			return nil
		case "{":
			if err := p.skipBlock(); err != nil {
				return err
			}
		}
	}
	return fmt.Errorf("set %s: unterminated {", name)
}

// nftPacket is the packet followed through the ruleset.
type nftPacket struct {
	v6    bool
	proto string // "tcp" or "udp"
	port  int
}

// An NftVerdict says what the ruleset does with a packet from the world.
type NftVerdict struct {
	Filtering bool     // at least one input chain applies to the packet
	Open      bool     // every input chain lets it in
	Why       []string // the rules or policies that let it in
	Caveats   []string // conditions the evaluation could not decide (interfaces)
}

// OpenTo follows a new connection from the Internet to port/proto, over
// IPv4 and over IPv6, through the input chains; it is open if either gets in.
func (rs *NftRuleset) OpenTo(port int, proto string) NftVerdict {
	var out NftVerdict
	for _, v6 := range []bool{false, true} {
		v := rs.follow(nftPacket{v6: v6, proto: proto, port: port})
		out.Filtering = out.Filtering || v.Filtering
		if v.Open {
			out.Open = true
			out.Why = appendNew(out.Why, v.Why...)
			out.Caveats = appendNew(out.Caveats, v.Caveats...)
		}
	}
	return out
}

// HasInputFilter reports whether some table filters incoming packets.
func (rs *NftRuleset) HasInputFilter() bool {
	for _, t := range rs.Tables {
		for _, c := range t.Chains {
			if c.Hook == "input" && (c.Type == "filter" || c.Type == "") && (t.Family == "inet" || t.Family == "ip" || t.Family == "ip6") {
				return true
			}
		}
	}
	return false
}

func (rs *NftRuleset) follow(pkt nftPacket) NftVerdict {
	v := NftVerdict{Open: true}
	for _, t := range rs.Tables {
		if !(t.Family == "inet" || t.Family == "ip" && !pkt.v6 || t.Family == "ip6" && pkt.v6) {
			continue
		}
		for _, c := range t.Chains {
			if c.Hook != "input" || (c.Type != "filter" && c.Type != "") {
				continue
			}
			v.Filtering = true
			e := &nftEval{table: t, pkt: pkt}
			verdict, why := e.chain(c, 0)
			if verdict == "" {
				verdict = c.Policy
				if verdict == "" {
					verdict = "accept"
				}
				why = fmt.Sprintf("policy %s of chain %s %s %s", verdict, t.Family, t.Name, c.Name)
			}
			if verdict != "accept" {
				return NftVerdict{Filtering: true}
			}
			v.Why = append(v.Why, why)
			v.Caveats = appendNew(v.Caveats, e.caveats...)
		}
	}
	if !v.Filtering {
		return NftVerdict{}
	}
	return v
}

type nftEval struct {
	table   *NftTable
	pkt     nftPacket
	caveats []string
	steps   int // rules looked at: jumps could otherwise make it exponential
}

// nftMaxSteps bounds the rules followed for one packet and chain.
const nftMaxSteps = 100000

// chain returns the verdict of a chain for the packet ("" to go on) and
// the rule that gave it.
func (e *nftEval) chain(c *NftChain, depth int) (string, string) {
	if depth > 16 {
		return "", ""
	}
	for _, rule := range c.Rules {
		if e.steps++; e.steps > nftMaxSteps {
			e.caveats = appendNew(e.caveats, "the ruleset has too many jumps to follow in full")
			return "", ""
		}
		verdict, target := nftRuleVerdict(rule)
		var caveats []string
		if !e.matches(rule, verdict, &caveats) {
			continue
		}
		if verdict == "vmap" {
			verdict, target = e.vmap(rule)
			if verdict == "" {
				continue
			}
		}
		where := fmt.Sprintf("rule %q in chain %s %s %s", ruleText(rule), e.table.Family, e.table.Name, c.Name)
		switch verdict {
		case "accept":
			e.caveats = appendNew(e.caveats, caveats...)
			return "accept", where
		case "drop", "reject":
			return "drop", where
		case "jump", "goto":
			v, why := e.chain(e.table.chain(target), depth+1)
			if v != "" {
				if v == "accept" {
					e.caveats = appendNew(e.caveats, caveats...)
				}
				return v, why
			}
			if verdict == "goto" {
				return "", ""
			}
		case "return":
			return "", ""
		}
	}
	return "", ""
}

// nftRuleVerdict finds a rule's verdict statement.
func nftRuleVerdict(rule []nftToken) (verdict, target string) {
	for i, t := range rule {
		if t.quoted || t.group != nil {
			continue
		}
		switch t.word {
		case "accept", "drop", "reject", "return", "queue":
			if t.word == "queue" {
				return "accept", "" // handed to a program that may accept
			}
			return t.word, ""
		case "jump", "goto":
			if i+1 < len(rule) {
				return t.word, rule[i+1].word
			}
		case "vmap":
			return "vmap", ""
		}
	}
	return "", ""
}

func ruleText(rule []nftToken) string {
	parts := make([]string, len(rule))
	for i, t := range rule {
		parts[i] = t.String()
	}
	return strings.Join(parts, " ")
}

// value reads an optional relational operator and a value at rule[i:]:
// the elements it names, whether it is negated, and the next index.
func (e *nftEval) value(rule []nftToken, i int) (elems []string, neg bool, unknown bool, next int) {
	if i < len(rule) && !rule[i].quoted {
		switch rule[i].word {
		case "!=":
			neg = true
			i++
		case "==", "eq":
			i++
		case "<", ">", "<=", ">=", "lt", "gt", "le", "ge":
			return nil, false, true, i + 2
		case "vmap":
			return nil, false, true, i // decided by vmap
		}
	}
	if i >= len(rule) {
		return nil, neg, true, i
	}
	t := rule[i]
	switch {
	case t.group != nil:
		elems = t.group
	case !t.quoted && strings.HasPrefix(t.word, "@"):
		set, ok := e.table.Sets[t.word[1:]]
		if !ok {
			return nil, neg, true, i + 1
		}
		elems = set
	case t.quoted:
		elems = []string{t.word}
	default:
		elems = strings.Split(t.word, ",")
	}
	return elems, neg, false, i + 1
}

// matches evaluates a rule's matchers for the packet. Unknown matchers
// match when the verdict lets the packet in (accept, jump, goto, vmap) and
// do not when it keeps it out.
func (e *nftEval) matches(rule []nftToken, verdict string, caveats *[]string) bool {
	permissive := verdict != "drop" && verdict != "reject"
	pkt := e.pkt
	res := func(m, neg, unknown bool) bool {
		if unknown {
			return permissive
		}
		return m != neg
	}
	for i := 0; i < len(rule); {
		t := rule[i]
		if t.quoted || t.group != nil {
			i++
			continue
		}
		w, next := t.word, ""
		if i+1 < len(rule) {
			next = rule[i+1].word
		}
		switch {
		case w == "accept" || w == "drop" || w == "reject" || w == "jump" || w == "goto" || w == "return" || w == "queue":
			return true // the verdict comes last
		case w == "vmap":
			return true
		case w == "ct" && next == "state":
			elems, neg, unknown, n := e.value(rule, i+2)
			if n < len(rule) && rule[n].word == "vmap" {
				return true
			}
			if !res(slices.Contains(elems, "new"), neg, unknown) {
				return false
			}
			i = n
		case (w == "iif" || w == "iifname") || (w == "meta" && (next == "iif" || next == "iifname")):
			at := i + 1
			if w == "meta" {
				at = i + 2
			}
			elems, neg, unknown, n := e.value(rule, at)
			if unknown {
				i = n
				continue
			}
			other := slices.ContainsFunc(elems, func(s string) bool { return s != "lo" })
			switch {
			case neg && slices.Contains(elems, "lo"), neg && !other:
				// "not lo": the world's interfaces
			case neg:
				*caveats = appendNew(*caveats, "except on interface "+strings.Join(elems, ", "))
			case !other:
				return false // loopback only
			default:
				*caveats = appendNew(*caveats, "only on interface "+strings.Join(slices.DeleteFunc(slices.Clone(elems), func(s string) bool { return s == "lo" }), ", "))
			}
			i = n
		case (w == "ip" || w == "ip6") && (next == "saddr"):
			if (w == "ip6") != pkt.v6 {
				return false
			}
			elems, neg, unknown, n := e.value(rule, i+2)
			i = n
			if unknown {
				if !permissive {
					return false
				}
				continue
			}
			class := sourcePrivate
			for _, el := range elems {
				class = max(class, sourceClass(el))
			}
			switch {
			case neg && class == sourceWorld, !neg && class == sourcePrivate:
				return false
			case !neg && class == sourcePublic:
				if !permissive {
					return false
				}
				*caveats = appendNew(*caveats, "only from "+strings.Join(elems, ", "))
			}
		case w == "ip" || w == "ip6":
			if (w == "ip6") != pkt.v6 {
				return false
			}
			if next == "protocol" || next == "nexthdr" {
				elems, neg, unknown, n := e.value(rule, i+2)
				if !res(slices.Contains(elems, pkt.proto), neg, unknown) {
					return false
				}
				i = n
				continue
			}
			if !permissive {
				return false
			}
			i += 2
		case w == "meta" && next == "l4proto":
			elems, neg, unknown, n := e.value(rule, i+2)
			if !res(slices.Contains(elems, pkt.proto), neg, unknown) {
				return false
			}
			i = n
		case w == "meta" && next == "nfproto":
			fam := "ipv4"
			if pkt.v6 {
				fam = "ipv6"
			}
			elems, neg, unknown, n := e.value(rule, i+2)
			if !res(slices.Contains(elems, fam), neg, unknown) {
				return false
			}
			i = n
		case (w == "tcp" || w == "udp" || w == "th" || w == "udplite" || w == "sctp" || w == "dccp") && next == "dport":
			if w != "th" && w != pkt.proto {
				return false
			}
			elems, neg, unknown, n := e.value(rule, i+2)
			if n < len(rule) && rule[n].word == "vmap" {
				return true
			}
			if !res(slices.ContainsFunc(elems, func(s string) bool { return portElement(s, pkt.port) }), neg, unknown) {
				return false
			}
			i = n
		case w == "tcp" || w == "udp" || w == "sctp" || w == "dccp" || w == "udplite":
			if w != pkt.proto {
				return false
			}
			if !permissive {
				return false // tcp flags, sport …: not decided
			}
			i += 2
		case w == "icmp" || w == "icmpv6" || w == "icmpx" || w == "igmp":
			return false
		case w == "counter" || w == "log" || w == "comment" || w == "limit" || w == "meta" || w == "ct" || w == "fib" || w == "mark" || w == "notrack" || w == "nftrace":
			if (w == "limit" || w == "fib" || w == "meta" || w == "ct") && !permissive {
				return false
			}
			i++
		default:
			i++
		}
	}
	return true
}

// vmap looks the packet up in a rule's verdict map ("ct state vmap {…}",
// "tcp dport vmap {…}").
func (e *nftEval) vmap(rule []nftToken) (string, string) {
	for i, t := range rule {
		if t.word != "vmap" || t.quoted || i+1 >= len(rule) || i < 1 {
			continue
		}
		elems := rule[i+1].group
		if strings.HasPrefix(rule[i+1].word, "@") {
			elems = e.table.Sets[rule[i+1].word[1:]]
		}
		key := rule[i-1].word // "state", "dport", "l4proto"…
		for _, el := range elems {
			k, v, ok := strings.Cut(el, ":")
			if !ok {
				continue
			}
			k = strings.TrimSpace(k)
			var hit bool
			switch key {
			case "state":
				hit = slices.Contains(strings.Split(k, ","), "new")
			case "dport":
				hit = portElement(k, e.pkt.port)
			case "l4proto", "protocol", "nexthdr":
				hit = k == e.pkt.proto
			case "saddr":
				hit = sourceClass(k) == sourceWorld
			}
			if hit {
				f := strings.Fields(v)
				if len(f) == 0 {
					return "", ""
				}
				if len(f) > 1 {
					return f[0], f[1]
				}
				return f[0], ""
			}
		}
	}
	return "", ""
}

// wellKnownPorts are the service names nft accepts in place of ports that
// a management rule may plausibly use.
var wellKnownPorts = map[string]int{"ssh": 22, "telnet": 23, "ftp": 21, "http": 80, "https": 443, "domain": 53, "tftp": 69}

// portElement reports whether a set element ("22", "20000-29999", "ssh")
// holds port p.
func portElement(s string, p int) bool {
	s = strings.TrimSpace(s)
	if n, ok := wellKnownPorts[s]; ok {
		return n == p
	}
	r, err := parsePortRange(s, "")
	return err == nil && r.Has(p, "")
}

func appendNew(list []string, items ...string) []string {
	for _, it := range items {
		if !slices.Contains(list, it) {
			list = append(list, it)
		}
	}
	return list
}
