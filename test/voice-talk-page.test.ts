import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { chromium } from 'playwright-core';
import { startVoiceDevice } from './voice/device.js';

const browserPath = ['/usr/bin/chromium', '/usr/bin/chromium-browser'].find(existsSync);

test('the talk page hears the browser microphone and shows the transcript and the spoken reply', {
  skip: !browserPath && 'no chromium',
  timeout: 120_000,
}, async () => {
  // Chromium's fake microphone plays this file (speech, then silence so the VAD ends the utterance).
  const dir = mkdtempSync(join(tmpdir(), 'aide-talk-'));
  const speech = join(dir, 'speech.wav');
  execFileSync('flite', ['-voice', 'slt', '-t', 'what time is it', '-o', join(dir, 'raw.wav')]);
  execFileSync('sox', [join(dir, 'raw.wav'), '-r', '16000', '-c', '1', speech, 'pad', '0.5', '4']);
  const device = await startVoiceDevice();
  const browser = await chromium.launch({
    executablePath: browserPath,
    args: [
      '--use-fake-ui-for-media-stream',
      '--use-fake-device-for-media-stream',
      `--use-file-for-fake-audio-capture=${speech}`,
      '--autoplay-policy=no-user-gesture-required',
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-background-networking',
    ],
  });
  try {
    const page = await browser.newPage();
    await page.goto(`${device.url}/talk`);
    await page.getByRole('button', { name: 'Start listening' }).click();
    await page.getByText('You: what time is it').first().waitFor({ timeout: 60_000 });
    await page.locator('#log .aide').first().waitFor({ timeout: 30_000 });
    const reply = await page.locator('#log .aide').first().textContent();
    assert.match(reply ?? '', /^Aide: .+/);
    await page.getByLabel('Or type:').fill('what medicines do i take');
    await page.keyboard.press('Enter');
    await page.getByText('You: what medicines do i take').waitFor({ timeout: 30_000 });
  } finally {
    await browser.close();
    await device.close();
  }
});
