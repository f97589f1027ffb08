import { z } from 'zod';
import { DriveId } from '../../drives/model.ts';

export const DriveParams = z.object({ id: DriveId }).strict();
