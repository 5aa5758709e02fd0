// Text helpers for the rules' annotations.
{
  // A ||| block as one line, the way YAML's folded style (>-) reads: lines joined by spaces.
  oneLine(text):: std.strReplace(std.rstripChars(text, '\n'), '\n', ' '),

  // A Prometheus duration of one number and one unit as words: '5m' -> '5 minutes'.
  duration(d)::
    local units = { s: 'second', m: 'minute', h: 'hour', d: 'day' };
    local unit = d[std.length(d) - 1];
    local number = std.substr(d, 0, std.length(d) - 1);
    assert std.objectHas(units, unit) && std.length(number) > 0
           && std.length([c for c in std.stringChars(number) if std.length(std.findSubstr(c, '0123456789')) == 0]) == 0
           : 'duration "%s": write one number and one unit (s, m, h or d), e.g. "90s" or "5m"' % d;
    local n = std.parseInt(number);
    '%d %s%s' % [n, units[unit], if n == 1 then '' else 's'],
}
