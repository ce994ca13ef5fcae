// A whole Aide device agent (store, reminders, voice, sync engine) connected to a test broker, for the
// tests in which the cloud talks to a real device: caregiver-e2e, caregiver-device-settings, sync-settings.
import { loadDeviceConfig } from '../../device/config.js';
import { type DeviceHandle, startDevice } from '../../device/main.js';

/** Starts the device `deviceId`, signed in to the broker as itself, keeping its data in `dir`. */
export function startMqttDevice(o: {
  dir: string;
  deviceId: string;
  mqttUrl: string;
  password: string;
  env?: Record<string, string>;
}): Promise<DeviceHandle> {
  return startDevice(
    loadDeviceConfig({
      env: {
        AIDE_DATA_DIR: o.dir,
        AIDE_PORT: '0',
        AIDE_LOG_LEVEL: 'silent',
        AIDE_DEVICE_ID: o.deviceId,
        MQTT_URL: o.mqttUrl,
        AIDE_MQTT_USERNAME: o.deviceId,
        AIDE_MQTT_PASSWORD: o.password,
        AIDE_TIMEZONE: 'Europe/London',
        ...o.env,
      },
    }),
  );
}

/** The settings tests' starting point: espeak at 145 wpm, quiet hours 22:00-07:00 (what the cloud changes). */
export const settingsTestEnv: Record<string, string> = {
  AIDE_TTS_ENGINES: 'espeak',
  AIDE_ASR_ENGINES: 'pocketsphinx',
  AIDE_TTS_RATE: '145',
  AIDE_REMINDER_QUIET_HOURS: '22:00-07:00',
};

const sentence = 'Good morning. It is time for your blood pressure tablet, with a glass of water please.';

/** Seconds of speech the device's voice makes of the same sentence (to tell speech rates apart). */
export async function spokenSeconds(device: DeviceHandle): Promise<number> {
  const { wav } = await device.ctx.voice!.synthesizeWav(sentence);
  return (wav.length - 44) / 2 / wav.readUInt32LE(24);
}
