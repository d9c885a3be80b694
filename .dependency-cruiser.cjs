// The layers of src/, from the bottom up (docs/development.md draws them).
// A module may import its own folder and any layer below its own, never one
// above, and never a sibling on its row. Type-only imports count too
// (tsPreCompilationDeps): a type that points up is a dependency that points up.
const LAYERS = [
  ['protocol', 'config'],
  ['observe'],
  ['net', 'limits'],
  ['admission'],
  ['core'],
  ['http', 'scale-out'],
  ['transport', 'edge'],
];
// Entry points and the composition root: src/*.ts.
const ROOT = '^src/[^/]+\\.ts$';
const folder = (name) => `^src/${name}/`;

const forbidden = [
  {
    name: 'no-circular',
    severity: 'error',
    comment: 'No import cycles, type-only imports included.',
    from: {},
    to: { circular: true },
  },
  {
    name: 'check-uses-only-protocol',
    severity: 'error',
    comment: '`pairing-relay check` is a client: it shares the wire format, nothing of the server.',
    from: { path: folder('check') },
    to: { path: '^src/', pathNot: [folder('check'), folder('protocol')] },
  },
  {
    name: 'nothing-imports-check',
    severity: 'error',
    comment: 'Only the CLI entry loads check/ (by import(), for its subcommand).',
    from: { path: '^src/', pathNot: [folder('check'), '^src/cli\\.ts$'] },
    to: { path: folder('check') },
  },
  {
    name: 'layers-import-nothing-from-the-root',
    severity: 'error',
    comment: 'Entry points and the composition root sit on top: no layer imports them.',
    from: { path: '^src/[^/]+/' },
    to: { path: ROOT },
  },
];
LAYERS.forEach((row, level) => {
  const above = LAYERS.slice(level + 1).flat();
  for (const name of row) {
    const siblings = row.filter((other) => other !== name);
    const banned = [...above, ...siblings];
    if (banned.length === 0) continue;
    forbidden.push({
      name: `${name}-imports-only-lower-layers`,
      severity: 'error',
      comment: `${name}/ may import ${LAYERS.slice(0, level).flat().join(', ') || 'no other layer'}, not ${banned.join(', ')}.`,
      from: { path: folder(name) },
      to: { path: `^src/(${banned.join('|')})/` },
    });
  }
});

module.exports = {
  forbidden,
  options: {
    doNotFollow: { path: 'node_modules' },
    includeOnly: '^src/',
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
    enhancedResolveOptions: { extensions: ['.ts', '.js'] },
  },
};
