import type { CommandSpec } from '../command.ts';
import { commands as start } from './start.ts';
import { commands as drive } from './drive.ts';
import { commands as pool } from './pool.ts';
import { commands as user } from './user.ts';
import { commands as token } from './token.ts';
import { commands as mqtt } from './mqtt.ts';
import { commands as repo } from './repo.ts';
import { commands as backup } from './backup.ts';

/** Every `pidrive` command; each group file owns its commands. */
export const allCommands: CommandSpec[] = [...start, ...drive, ...pool, ...user, ...token, ...mqtt, ...repo, ...backup];
