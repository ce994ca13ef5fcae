import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { chromium } from 'playwright-core';
import { startVoiceDevice } from './voice/device.js';

const browserPath = ['/usr/bin/chromium', '/usr/bin/chromium-browser'].find(existsSync);

test('the talk page hears the browser microphone, shows the partial transcript live, then the final one and the spoken reply', {
  skip: !browserPath && 'no chromium',
  timeout: 120_000,
}, async () => {
  // Chromium's fake microphone plays this file: speech, a 1 s pause inside the utterance (the decoder
  // closes a segment there, sent as a partial transcript), more speech, then silence so the VAD ends it.
  const dir = mkdtempSync(join(tmpdir(), 'aide-talk-'));
  const speech = join(dir, 'speech.wav');
  const part = (name: string, text: string, pad: string[]) => {
    execFileSync('flite', ['-voice', 'slt', '-t', text, '-o', join(dir, `${name}-raw.wav`)]);
    execFileSync('sox', [
      join(dir, `${name}-raw.wav`),
      '-r',
      '16000',
      '-c',
      '1',
      join(dir, `${name}.wav`),
      'pad',
      ...pad,
    ]);
    return join(dir, `${name}.wav`);
  };
  execFileSync('sox', [
    part('a', 'my blood pressure is', ['0.5', '1.0']),
    part('b', 'one forty over ninety', ['0', '5']),
    speech,
  ]);
  // A slow speaker's end of speech (2.5 s) so the 1 s pause does not end the utterance.
  const device = await startVoiceDevice({ AIDE_VAD_SILENCE_MS: '2500' });
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
    // Records every state the conversation log's lines pass through (class and text), in order: the
    // partial line is replaced in place by the final transcript, so it cannot be read afterwards.
    await page.addInitScript(() => {
      const seen: { cls: string; text: string; size: string; color: string }[] = [];
      (window as unknown as { seen: typeof seen }).seen = seen;
      document.addEventListener('DOMContentLoaded', () => {
        const log = document.getElementById('log')!;
        new MutationObserver(() => {
          for (const p of log.querySelectorAll('p')) {
            const last = seen.findLast((s) => s.text === p.textContent && s.cls === p.className);
            if (last) continue;
            const style = getComputedStyle(p);
            seen.push({
              cls: p.className,
              text: p.textContent ?? '',
              size: style.fontSize,
              color: style.color,
            });
          }
        }).observe(log, { childList: true, subtree: true, characterData: true, attributes: true });
      });
    });
    await page.goto(`${device.url}/talk`);
    await page.getByRole('button', { name: 'Start listening' }).click();
    await page
      .getByText('You: my blood pressure is one forty over ninety')
      .first()
      .waitFor({ timeout: 60_000 });
    await page.locator('#log .aide').first().waitFor({ timeout: 30_000 });
    const reply = await page.locator('#log .aide').first().textContent();
    assert.match(reply ?? '', /^Aide: .+/);
    const seen = await page.evaluate(
      () =>
        (window as unknown as { seen: { cls: string; text: string; size: string; color: string }[] }).seen,
    );
    const partial = seen.findIndex((s) => s.cls === 'partial');
    const final = seen.findIndex((s) => s.cls === 'you');
    assert.ok(partial >= 0, `a partial transcript was shown: ${JSON.stringify(seen)}`);
    assert.equal(seen[partial].text, 'You: my blood pressure is …');
    assert.ok(partial < final, 'the partial came before the final transcript');
    assert.equal(seen[final].text, 'You: my blood pressure is one forty over ninety');
    assert.ok(Number.parseFloat(seen[partial].size) > 22, `partial in large type (${seen[partial].size})`);
    assert.equal(seen[partial].color, 'rgb(118, 118, 118)', 'partial greyed');
    assert.equal(
      await page.locator('#log .partial').count(),
      0,
      'the partial line was replaced by the final one',
    );
    await page.getByLabel('Or type:').fill('what medicines do i take');
    await page.keyboard.press('Enter');
    await page.getByText('You: what medicines do i take').waitFor({ timeout: 30_000 });
  } finally {
    await browser.close();
    await device.close();
  }
});
