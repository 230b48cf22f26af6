#!/usr/bin/env node
import { Command } from 'commander';
import { buildApp } from './app.js';
import { loadConfig } from './config.js';
import { createContext } from './context.js';
import { migrateToLatest, openDatabase } from './db/database.js';
import { TeamsRepository } from './repositories/teams-repository.js';
import { generateApiKey, hashApiKey } from './security/api-keys.js';

const program = new Command().name('discern').description('Self-hosted deepfake and synthetic-media detection server (Detect API v2)');

program
  .command('serve')
  .description('HTTP API with embedded workers (DISCERN_WORKERS; 0 = an API-only node in scale-out mode)')
  .action(async () => {
    const config = loadConfig();
    const ctx = await createContext(config);
    const app = await buildApp(ctx);
    ctx.startWorkers();
    await app.listen({ host: config.DISCERN_HOST, port: config.DISCERN_PORT });
    ctx.logger.info({ url: `http://${config.DISCERN_HOST}:${config.DISCERN_PORT}`, analysers: ctx.analysers.names() }, 'discern is serving');
    const shutdown = async (signal: string) => {
      ctx.logger.info({ signal }, 'shutting down');
      await app.close();
      await ctx.close();
      process.exit(0);
    };
    process.once('SIGINT', () => void shutdown('SIGINT'));
    process.once('SIGTERM', () => void shutdown('SIGTERM'));
  });

program
  .command('worker')
  .description('Job workers only: more analysis capacity beside `serve`; in scale-out mode (PostgreSQL, Redis, S3) on any machine')
  .action(async () => {
    const config = loadConfig();
    const ctx = await createContext(config);
    ctx.startWorkers();
    ctx.logger.info({ workers: config.DISCERN_WORKERS }, 'discern worker started');
    const shutdown = async () => {
      await ctx.close();
      process.exit(0);
    };
    process.once('SIGINT', () => void shutdown());
    process.once('SIGTERM', () => void shutdown());
  });

program
  .command('migrate')
  .description('Apply database migrations')
  .action(async () => {
    const config = loadConfig();
    const handle = openDatabase(config);
    const applied = await migrateToLatest(handle.db);
    console.log(applied.length ? `applied: ${applied.join(', ')}` : 'database is up to date');
    await handle.close();
  });

const keys = program.command('keys').description('Manage API keys');
keys
  .command('create')
  .description('Create an API key for a team (the team is created if needed); prints the key once')
  .requiredOption('--team <name>', 'team name')
  .action(async (options: { team: string }) => {
    const config = loadConfig();
    const handle = openDatabase(config);
    await migrateToLatest(handle.db);
    const teams = new TeamsRepository(handle.db);
    const team = (await teams.findByName(options.team)) ?? (await teams.create(options.team));
    const key = generateApiKey();
    await teams.addKey(team.id, hashApiKey(key), key.slice(0, 8));
    console.log(key);
    console.error(`API key created for team "${team.name}". It is shown only this once.`);
    await handle.close();
  });

keys
  .command('webhook-secret')
  .description('Set (or clear with --clear) the secret that signs this team\'s callbacks')
  .requiredOption('--team <name>', 'team name')
  .option('--secret <secret>', 'the secret (random if omitted)')
  .option('--clear', 'remove the secret')
  .action(async (options: { team: string; secret?: string; clear?: boolean }) => {
    const config = loadConfig();
    const handle = openDatabase(config);
    await migrateToLatest(handle.db);
    const teams = new TeamsRepository(handle.db);
    const team = await teams.findByName(options.team);
    if (!team) {
      console.error(`no team named ${options.team}`);
      process.exitCode = 1;
    } else {
      const { randomBytes } = await import('node:crypto');
      const secret = options.clear ? null : options.secret ?? randomBytes(24).toString('base64url');
      await teams.setWebhookSecret(team.id, secret);
      console.log(secret ?? 'cleared');
    }
    await handle.close();
  });

program.parseAsync().catch((error) => {
  console.error(error instanceof Error ? error.message : error);
  process.exit(1);
});
