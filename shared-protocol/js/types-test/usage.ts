// Compiled (never run) by `tsc -p types-test`: the README's example against index.d.ts.
import { ArcaneClient, Flags, type ReliableEvent } from '../index.js';

const client = new ArcaneClient({ orchestrator: 'http://127.0.0.1:8080', name: 'alice' });
client.on('event', (e: ReliableEvent) => {
  if (typeof e.kind === 'object' && 'Chat' in e.kind) console.log(e.kind.Chat.from, e.kind.Chat.text);
});
const welcome = await client.login();
const skill: string = welcome.skills[0];
client.move(1, 0);
client.cast(0, { Entity: 42 });
client.chat({ Whisper: { to: 'bob' } }, `using ${skill}`);
client.social({ PartyInvite: { name: 'bob' } });
for (const e of client.renderEntities()) {
  if (e.flags & Flags.DEAD) continue;
  console.log(e.kind, e.x_cm, e.y_cm, e.own);
}
client.close();
