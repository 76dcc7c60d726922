// The HUD around the canvas: vitals, the skill bar with cooldowns and mana, the chat log
// and input, the party and the creature roster with breeding.

const $ = (/** @type {string} */ id) => /** @type {HTMLElement} */ (document.getElementById(id));

/** Skill names and mana costs as the shipped content has them (display only). */
const SKILLS = {
  magic_missile: { name: 'Magic Missile', mana: 8 },
  arcane_nova: { name: 'Arcane Nova', mana: 25 },
  heal: { name: 'Heal', mana: 20 },
};

/** @param {string} id */
export function skillName(id) {
  return SKILLS[id]?.name ?? id.replace(/_/g, ' ');
}

/** @param {any} client the ArcaneClient */
export function buildSkillBar(client) {
  const bar = $('skills');
  bar.replaceChildren();
  client.welcome.skills.forEach((/** @type {string} */ id, /** @type {number} */ slot) => {
    const el = document.createElement('div');
    el.className = 'skill';
    el.id = `skill-${slot}`;
    el.innerHTML = `<span class="key">${slot + 1}</span> <span class="name"></span><div class="cd"></div>`;
    /** @type {HTMLElement} */ (el.querySelector('.name')).textContent = skillName(id);
    bar.appendChild(el);
  });
}

/**
 * Vitals and cooldowns from the own state, against the zone tick now.
 * @param {any} client
 * @param {number} tick
 */
export function updateVitals(client, tick) {
  const own = client.view.own();
  if (!own) return;
  const set = (/** @type {string} */ cls, /** @type {number} */ v, /** @type {number} */ max) => {
    const el = /** @type {HTMLElement} */ (document.querySelector(`#vitals .${cls}`));
    /** @type {HTMLElement} */ (el.querySelector('span')).style.width = `${max ? (100 * v) / max : 0}%`;
    /** @type {HTMLElement} */ (el.querySelector('b')).textContent = `${v} / ${max}`;
  };
  set('hp', own.hp, own.max_hp);
  set('mana', own.mana, own.max_mana);
  client.welcome.skills.forEach((/** @type {string} */ id, /** @type {number} */ slot) => {
    const el = document.getElementById(`skill-${slot}`);
    if (!el) return;
    const ready = Math.max(own.ready_tick[slot] ?? 0, own.gcd_ready_tick);
    const left = Math.max(0, ready - tick);
    const cd = /** @type {HTMLElement} */ (el.querySelector('.cd'));
    cd.style.height = left > 0 ? `${Math.min(100, left * 5)}%` : '0';
    el.classList.toggle('nomana', own.mana < (SKILLS[id]?.mana ?? 0));
    el.dataset.ready = left > 0 ? 'no' : 'yes';
  });
  const dead = own.respawn_tick !== null;
  $('dead').hidden = !dead;
  if (dead) {
    const wait = Math.max(0, own.respawn_tick - tick);
    $('respawn-wait').textContent = wait > 0 ? `in ${(wait / client.welcome.tick_rate_hz).toFixed(1)} s` : '';
  }
}

/**
 * Appends a line to the chat log.
 * @param {string} text
 * @param {string} [cls]
 */
export function log(text, cls = 'sys') {
  const el = $('log');
  const line = document.createElement('div');
  line.className = cls;
  line.textContent = text;
  el.appendChild(line);
  while (el.childElementCount > 200) el.firstElementChild?.remove();
  el.scrollTop = el.scrollHeight;
}

/**
 * Turns what was typed into a chat line or a social request.
 * @param {any} client
 * @param {string} text
 */
export function submitChat(client, text) {
  const t = text.trim();
  if (!t) return;
  const [cmd, ...rest] = t.split(/\s+/);
  const arg = rest.join(' ');
  try {
    switch (cmd) {
      case '/z': client.chat('Zone', arg); break;
      case '/p': client.chat('Party', arg); break;
      case '/w': client.chat({ Whisper: { to: rest[0] ?? '' } }, rest.slice(1).join(' ')); break;
      case '/party': client.social('PartyCreate'); break;
      case '/invite': client.social({ PartyInvite: { name: arg } }); break;
      case '/accept': client.social({ PartyAccept: { party: arg || lastInvite } }); break;
      case '/decline': client.social({ PartyDecline: { party: arg || lastInvite } }); break;
      case '/leave': client.social('PartyLeave'); break;
      case '/friend': client.social({ FriendAdd: { name: arg } }); break;
      case '/block': client.social({ Block: { name: arg } }); break;
      default:
        if (cmd.startsWith('/')) log(`unknown command ${cmd}`);
        else client.chat('Say', t);
    }
  } catch (e) {
    log(String(e));
  }
}

let lastInvite = '';

/**
 * A social event: party, invitations, presence, answers.
 * @param {any} ev
 */
export function onSocial(ev) {
  if ('Party' in ev) {
    const el = $('party');
    el.replaceChildren();
    const party = ev.Party;
    if (!party) {
      el.textContent = 'not in a party (/party to make one)';
      return;
    }
    for (const m of party.members) {
      const row = document.createElement('div');
      const hp = m.max_hp ? ` ${m.hp}/${m.max_hp}` : '';
      row.textContent = `${m.leader ? '★ ' : ''}${m.name} · ${m.zone || 'offline'}${hp}`;
      el.appendChild(row);
    }
  } else if ('Invited' in ev) {
    lastInvite = ev.Invited.party;
    log(`${ev.Invited.from} invites you to a party: /accept or /decline`);
  } else if ('Done' in ev) {
    if (ev.Done.detail) log(`${ev.Done.request}: ${ev.Done.detail}`);
  } else if ('Refused' in ev) {
    log(`${ev.Refused.request} refused: ${ev.Refused.detail}`);
  } else if ('Presence' in ev) {
    log(`${ev.Presence.name} is ${ev.Presence.zone ? `in ${ev.Presence.zone}` : 'offline'}`);
  }
}

/** The roster: creature id (as text) → view. */
const roster = new Map();
/** @type {Set<string>} ids ticked for breeding */
const chosen = new Set();

/** @param {any} creature */
function describe(creature) {
  const traits = creature.traits.map((/** @type {any} */ t) => `${t.gene} ${t.value.split(' ')[0]}`).join(', ');
  const egg = creature.hatch_tick !== null ? ' (egg)' : '';
  return `${creature.species} g${creature.generation}${egg} · ${traits}`;
}

export function renderRoster() {
  const el = $('roster');
  el.replaceChildren();
  for (const [id, c] of roster) {
    const label = document.createElement('label');
    const box = document.createElement('input');
    box.type = 'checkbox';
    box.checked = chosen.has(id);
    box.disabled = c.hatch_tick !== null;
    box.onchange = () => {
      if (box.checked) chosen.add(id);
      else chosen.delete(id);
      /** @type {HTMLButtonElement} */ ($('breed-button')).disabled = chosen.size !== 2;
    };
    label.append(box, ` ${describe(c)}`);
    el.appendChild(label);
  }
  if (roster.size === 0) el.textContent = 'none yet: weaken a wild creature, then C to capture';
}

/** @param {any} creature */
export function rosterEntry(creature) {
  roster.set(String(creature.id), creature);
  renderRoster();
}

/** @param {any[]} creatures */
export function rosterAll(creatures) {
  roster.clear();
  chosen.clear();
  for (const c of creatures) roster.set(String(c.id), c);
  renderRoster();
}

/** @param {any} client */
export function breedChosen(client) {
  const ids = [...chosen].map((id) => roster.get(id).id);
  if (ids.length === 2) client.breed(ids[0], ids[1]);
  chosen.clear();
  /** @type {HTMLButtonElement} */ ($('breed-button')).disabled = true;
  renderRoster();
}
